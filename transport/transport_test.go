package transport

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func init() {
	Register("testline", func(u *url.URL) (Listener, error) { return nil, errors.New("listen " + u.Host) },
		func(ctx context.Context, u *url.URL) (Line, error) { return nil, errors.New("dial " + u.Host) })
	Register("testdialonly", nil, func(ctx context.Context, u *url.URL) (Line, error) { return nil, nil })
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		wantErr error
		msg     string
	}{
		{in: "testline://127.0.0.1:2323"},
		{in: "testline://[::1]:2323/path"},
		{in: "127.0.0.1:2323", wantErr: ErrBadAddress, msg: "want scheme://host:port"},
		{in: "nosuch://127.0.0.1:1", wantErr: ErrUnknownScheme, msg: `"nosuch"`},
		{in: "testline://127.0.0.1", wantErr: ErrBadAddress, msg: "missing host:port"},
		{in: "testline://:99"}, // all interfaces, for listeners
		{in: "testline://h:", wantErr: ErrBadAddress, msg: "missing host:port"},
		{in: "testline://user:pw@127.0.0.1:1", wantErr: ErrBadAddress, msg: "credentials"},
		{in: "testline://%zz:1", wantErr: ErrBadAddress},
		{in: "testline://user:s3cret@127.0.0.1", wantErr: ErrBadAddress, msg: "missing host:port"},
		{in: "nosuch://user:s3cret@127.0.0.1:1", wantErr: ErrUnknownScheme, msg: `"nosuch"`},
		// Power-user trial: these quoted the password as typed.
		{in: "user:s3cret@127.0.0.1:1", wantErr: ErrBadAddress, msg: "want scheme://host:port"},
		{in: "testline://user:s3cret@127.0.0.1:x", wantErr: ErrBadAddress, msg: "invalid port"},
		{in: "testline://user:s3cret@127.0.0.1:1/%zz", wantErr: ErrBadAddress, msg: "invalid URL escape"},
		// Review: a '/', '?' or '#' in the password ended the user info
		// early, and the password was shown, whole or in part.
		{in: "user:s3/cret@127.0.0.1:2323", wantErr: ErrBadAddress, msg: "want scheme://host:port"},
		{in: "testline://user:s3/cret@127.0.0.1:2323", wantErr: ErrBadAddress, msg: "percent-encode"},
		{in: "testline://user:s3#cret@127.0.0.1:2323", wantErr: ErrBadAddress, msg: "percent-encode"},
		{in: "testline://user:s3?cret@127.0.0.1:x", wantErr: ErrBadAddress, msg: "percent-encode"},
	} {
		u, err := Parse(tc.in)
		if tc.wantErr == nil {
			if err != nil || u == nil {
				t.Errorf("Parse(%q) = %v, %v; want a URL", tc.in, u, err)
			}
			continue
		}
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("Parse(%q) error = %v; want %v", tc.in, err, tc.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "transport: ") {
			t.Errorf("Parse(%q) error %q; want it to start with the package and mention %q", tc.in, err, tc.msg)
		}
		if strings.Contains(err.Error(), "pw@") || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "s3") {
			t.Errorf("Parse(%q) error %q shows the password", tc.in, err)
		}
	}
}

func TestListenDialDispatch(t *testing.T) {
	if _, err := Listen("testline://h:1"); err == nil || err.Error() != "listen h:1" {
		t.Errorf("Listen dispatched wrongly: %v", err)
	}
	if _, err := Dial(context.Background(), "testline://h:2"); err == nil || err.Error() != "dial h:2" {
		t.Errorf("Dial dispatched wrongly: %v", err)
	}
	if _, err := Listen("testdialonly://h:1"); err == nil || !strings.Contains(err.Error(), "cannot listen") {
		t.Errorf("Listen on a dial-only scheme: %v", err)
	}
	if _, err := Dial(context.Background(), "nosuch://h:1"); !errors.Is(err, ErrUnknownScheme) {
		t.Errorf("Dial unknown scheme: %v", err)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("registering a scheme twice did not panic")
		}
	}()
	Register("testline", nil, nil)
}

func TestEventString(t *testing.T) {
	for e, want := range map[Event]string{EventBreak: "break", EventInterrupt: "interrupt", EventAreYouThere: "are-you-there", Event(99): "event(99)"} {
		if got := e.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(e), got, want)
		}
	}
}
