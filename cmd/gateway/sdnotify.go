package main

import (
	"net"
	"os"
)

// sdNotify tells the service manager the gateway's state through
// $NOTIFY_SOCKET (systemd's Type=notify; contrib/gateway.service):
// "READY=1" once every listener and the metrics endpoint are open, so
// that `systemctl start` waits for them and reports a gateway that could
// not start; "STOPPING=1" when it stops answering and drains. Without a
// manager (no $NOTIFY_SOCKET) it does nothing, and so it does when the
// socket cannot be reached: the notification is a courtesy.
func sdNotify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	// Go takes a leading "@" for Linux's abstract namespace, as
	// systemd writes it.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte(state))
}
