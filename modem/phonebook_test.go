package modem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const bookTOML = `
[[entry]]
name = "MyBBS"
number = "555-1212"
address = "bbs.example.com:2323"
user = "alice"
password = "s3cret-pw"

[[entry]]
name = "plain"
address = "telnet://retro.example.org:23"
mode = "plain"

[[entry]]
name = "Echo Chamber"
address = "echo.example.org:23"

[[entry]]
name = "EchoChamber"
address = "other.example.org:23"

[[entry]]
name = "web"
address = "ws://gw.example.net:8080/line"
user = "bob"
password = "hunter2"
mode = "v42"
`

func writeBook(t *testing.T, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "phonebook.toml")
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPhonebookResolve(t *testing.T) {
	pb, err := LoadPhonebook(writeBook(t, bookTOML, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dial, addr, user, pw, name string
		mode                       Mode
	}{
		{"mybbs", "telnet://bbs.example.com:2323", "alice", "s3cret-pw", "MyBBS", ModeAuto},
		{"5551212", "telnet://bbs.example.com:2323", "alice", "s3cret-pw", "MyBBS", ModeAuto},
		{"555-1212", "telnet://bbs.example.com:2323", "alice", "s3cret-pw", "MyBBS", ModeAuto},
		{"(555) 1212", "", "", "", "", ""}, // spaces were removed by the interpreter; this one is not a number
		{"alice@bbs.example.com:2323", "telnet://bbs.example.com:2323", "alice", "s3cret-pw", "MyBBS", ModeAuto},
		{"carol@bbs.example.com:2323", "telnet://bbs.example.com:2323", "carol", "", "", ModeAuto},
		{"carol@mybbs", "telnet://bbs.example.com:2323", "carol", "", "MyBBS", ModeAuto},
		{"alice@MYBBS", "telnet://bbs.example.com:2323", "alice", "s3cret-pw", "MyBBS", ModeAuto},
		{"plain", "telnet://retro.example.org:23", "", "", "plain", ModePlain},
		{"web", "ws://gw.example.net:8080/line", "bob", "hunter2", "web", ModeV42},
		{"other.example.com", "telnet://other.example.com:23", "", "", "", ModeAuto},
		{"other.example.com:6400", "telnet://other.example.com:6400", "", "", "", ModeAuto},
		{"127.0.0.1:6400", "telnet://127.0.0.1:6400", "", "", "", ModeAuto},
		// A bare IPv4 address is port 23, as with tcpser (modem trial).
		{"192.168.1.10", "telnet://192.168.1.10:23", "", "", "", ModeAuto},
		// A name with spaces, dialed without them (modem trial).
		{"EchoChamber", "telnet://other.example.org:23", "", "", "EchoChamber", ModeAuto}, // the exact name first
		{"echo  chamber", "telnet://echo.example.org:23", "", "", "Echo Chamber", ModeAuto},
		{"Echo Chamber", "telnet://echo.example.org:23", "", "", "Echo Chamber", ModeAuto},
		{"[::1]:6400", "telnet://[::1]:6400", "", "", "", ModeAuto},
		{"tcp://h.example:99", "tcp://h.example:99", "", "", "", ModeAuto},
		// A user in a line URL is a user as in user@host:port.
		{"tcp://carol@h.example:99", "tcp://h.example:99", "carol", "", "", ModeAuto},
		{"telnet://alice@bbs.example.com:2323", "telnet://bbs.example.com:2323", "alice", "s3cret-pw", "MyBBS", ModeAuto},
		{"ws://bob@gw.example.net:8080/line", "ws://gw.example.net:8080/line", "bob", "hunter2", "web", ModeV42},
		{"ws://bob@gw.example.net:8080/a@b", "ws://gw.example.net:8080/a@b", "bob", "", "", ModeAuto},
	} {
		tg, err := pb.Resolve(c.dial)
		if c.addr == "" {
			if err == nil {
				t.Errorf("%q resolved to %v", c.dial, tg)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.dial, err)
			continue
		}
		if tg.Address != c.addr || tg.User != c.user || tg.Password != c.pw || tg.Name != c.name || tg.Mode != c.mode {
			t.Errorf("%q: %+v", c.dial, tg)
		}
	}
	for _, bad := range []string{"1234", "@host:1", "host:0", "host:99999", "host:x", "a:b:c", "tcp://h", "", "tcp://@h:1", "tcp://u:pw@h:1", "tcp://u@", "tcp://u@h", "u:pw@h:1", "u:pw@mybbs", "alice:s3cret@bbs.example.com:2323"} {
		if _, err := pb.Resolve(bad); !errors.Is(err, ErrUnknownNumber) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
	// ATDS, ATDS0, ATDS=1 (Hayes's stored numbers) are refused in
	// words, not looked up as the host "S" (modem trial).
	for _, d := range []string{"S", "s0", "S=1"} {
		if _, err := pb.Resolve(d); !errors.Is(err, ErrUnknownNumber) || !strings.Contains(err.Error(), "ATDS dials a number stored with AT&Z") {
			t.Errorf("%q: %v", d, err)
		}
	}
	if _, err := pb.Resolve("S12"); err != nil {
		t.Errorf("S12 (a host name): %v", err)
	}
	// user:password@host, as tcpser and Zimodem take it, is refused in
	// words of its own (modem trial: it was dialed with "u:pw" as the
	// user, and the password logged).
	if _, err := pb.Resolve("u:pw@h:1"); err == nil || !strings.HasPrefix(err.Error(), "modem: bad dial string: a password does not belong") {
		t.Errorf("u:pw@h:1: %v", err)
	}
	// An IPv6 address without brackets is told how to write it (IPv6
	// trial: only "malformed host:port").
	if _, err := pb.Resolve("2001:db8::10:2323"); err == nil || !strings.Contains(err.Error(), "an IPv6 address goes in brackets") {
		t.Errorf("bare IPv6: %v", err)
	}
	if tg, err := pb.Resolve("[::1]"); err != nil || tg.Address != "telnet://[::1]:23" {
		t.Errorf("[::1]: %v %v", tg, err)
	}
	// An address without a scheme is called as tcpser calls (telnet
	// only if the host opens with IAC); telnet:// written out, in the
	// dial string or the phonebook, is telnet from the start.
	for dial, sniff := range map[string]bool{
		"mybbs": true, "5551212": true, "other.example.com:6400": true, "192.168.1.10": true,
		"alice@bbs.example.com:2323": true, "plain": false, "telnet://h.example:23": false,
		"telnet://alice@bbs.example.com:2323": false, "tcp://h.example:99": false,
	} {
		if tg, err := pb.Resolve(dial); err != nil || tg.SniffTelnet != sniff {
			t.Errorf("%q: SniffTelnet %v, want %v (%v)", dial, tg.SniffTelnet, sniff, err)
		}
	}
	// A nil phonebook resolves addresses only.
	var none *Phonebook
	if tg, err := none.Resolve("bbs.example.com:23"); err != nil || tg.Address != "telnet://bbs.example.com:23" {
		t.Fatalf("nil book: %v %v", tg, err)
	}
}

// TestPhonebookDialModifiers: in a dial string that is a number (digits
// and dial punctuation) the Hayes modifiers T, P, W, ',', '/', '$', '@'
// and '!' anywhere are skipped when it is matched against the
// phonebook's numbers; a string with any other letter is a host name and
// keeps them.
func TestPhonebookDialModifiers(t *testing.T) {
	pb, err := LoadPhonebook(writeBook(t, bookTOML, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dial, name, addr string }{
		{"555T1212", "MyBBS", ""},
		{"555p1212", "MyBBS", ""},
		{"9W5551212", "", ""}, // 95551212: no such number
		{"555/1212", "MyBBS", ""},
		{"555$1212", "MyBBS", ""},
		{"555@1212", "MyBBS", ""},
		{"!555,,1212w", "MyBBS", ""},
		{"T555-1212", "MyBBS", ""},
		{"town.example", "", "telnet://town.example:23"},
		{"pt.example:23", "", "telnet://pt.example:23"},
		{"w@bbs.example.com:2323", "", "telnet://bbs.example.com:2323"},
	} {
		tg, err := pb.Resolve(c.dial)
		switch {
		case c.name == "" && c.addr == "":
			if !errors.Is(err, ErrUnknownNumber) {
				t.Errorf("%q: %v %v, want no such number", c.dial, tg, err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.dial, err)
		case tg.Name != c.name || c.addr != "" && tg.Address != c.addr:
			t.Errorf("%q: %v, want entry %q address %q", c.dial, tg, c.name, c.addr)
		}
	}
}

func TestTargetNeverShowsPassword(t *testing.T) {
	tg := Target{Name: "x", Address: "telnet://h:1", User: "alice", Password: "s3cret-pw", Mode: ModeV42}
	for _, s := range []string{tg.String(), fmt.Sprintf("%v", tg), fmt.Sprintf("%+v", tg), fmt.Sprintf("%#v", tg), fmt.Sprint(tg)} {
		if strings.Contains(s, "s3cret") {
			t.Fatalf("password shown: %s", s)
		}
	}
}

func TestPhonebookFileChecks(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		_, err := LoadPhonebook(writeBook(t, bookTOML, mode))
		if !errors.Is(err, ErrInsecureFile) {
			t.Errorf("mode %v: %v", mode, err)
		}
	}
	for _, c := range []struct{ name, text string }{
		{"syntax", "[[entry]\nname = \"x\"\npassword = \"topsecret\"\n"},
		{"unknown key", "[[entry]]\nname = \"x\"\naddress = \"h:1\"\npasswd = \"topsecret\"\n"},
		{"type", "[[entry]]\nname = \"x\"\naddress = \"h:1\"\npassword = 12345\n"},
		{"no name", "[[entry]]\naddress = \"h:1\"\npassword = \"topsecret\"\n"},
		{"dup", "[[entry]]\nname = \"x\"\naddress = \"h:1\"\n[[entry]]\nname = \"X\"\naddress = \"h:2\"\n"},
		{"mode", "[[entry]]\nname = \"x\"\naddress = \"h:1\"\nmode = \"fast\"\n"},
		{"address", "[[entry]]\nname = \"x\"\naddress = \"h:1:2\"\n"},
		{"v42 without user", "[[entry]]\nname = \"x\"\naddress = \"h:1\"\nmode = \"v42\"\n"},
		{"password in url", "[[entry]]\nname = \"x\"\naddress = \"telnet://u:topsecret@h:1\"\n"},
	} {
		_, err := LoadPhonebook(writeBook(t, c.text, 0o600))
		if !errors.Is(err, ErrPhonebook) {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("%s: error shows the password: %v", c.name, err)
		}
	}
	if _, err := LoadPhonebook(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestProfileFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "profile.toml")
	p, err := LoadProfile(path)
	if err != nil || p != Factory() {
		t.Fatalf("missing profile: %v", err)
	}
	p.Echo, p.X, p.DTR, p.EC = false, 2, 0, 0
	p.Regs[0], p.Regs[95] = 3, 47
	if err := SaveProfile(path, p); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	q, err := LoadProfile(path)
	if err != nil || q != p {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, q, p)
	}
	// A file from before \N: the factory auto-reliable.
	if err := os.WriteFile(path, []byte("x = 4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if q, err := LoadProfile(path); err != nil || q.EC != 3 {
		t.Errorf("a profile without ec: %+v, %v", q, err)
	}
	for _, bad := range []string{"x = 9\n", "ec = 8\n", "registers = { S1000 = 1 }\n", "registers = { S1 = 300 }\n", "registers = { Q1 = 1 }\n", "registers = { S01 = 1 }\n", "nonsense = 1\n", "x = \n"} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadProfile(path); !errors.Is(err, ErrProfile) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Reason
	}{
		{&DialError{Reason: ReasonBusy, Explain: "full"}, ReasonBusy},
		{fmt.Errorf("wrapped: %w", &DialError{Reason: ReasonNoDialtone}), ReasonNoDialtone},
		{context.DeadlineExceeded, ReasonNoAnswer},
		{&net.OpError{Op: "dial", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}, ReasonNoAnswer},
		{&net.OpError{Op: "dial", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ENETUNREACH}}, ReasonNoDialtone},
		{&net.DNSError{Name: "nowhere.invalid", Err: "no such host", IsNotFound: true}, ReasonNoDialtone},
		{errors.New("auth: denied"), ReasonNoCarrier},
		{nil, ReasonNoCarrier},
	} {
		if r, _ := Classify(c.err); r != c.want {
			t.Errorf("%v: %v, want %v", c.err, r, c.want)
		}
	}
	e := &DialError{Reason: ReasonBusy, Explain: "full", Err: errors.New("cause")}
	if !strings.HasPrefix(e.Error(), "modem: ") || errors.Unwrap(e) == nil {
		t.Fatal(e.Error())
	}
}

// TestPhonebookFileReload: an entry added while the modem runs is
// dialable at the next dial; a change that does not load keeps the
// entries read before and says why, until the file loads again.
func TestPhonebookFileReload(t *testing.T) {
	path := writeBook(t, bookTOML, 0o600)
	f, err := OpenPhonebookFile(path)
	if err != nil {
		t.Fatal(err)
	}
	resolves := func(dial string) bool {
		t.Helper()
		pb, err := f.Current()
		if err != nil {
			t.Fatalf("Current: %v", err)
		}
		tg, err := pb.Resolve(dial)
		return err == nil && tg.Name != "" // not taken as a host name
	}
	if !resolves("mybbs") || resolves("newbbs") {
		t.Fatal("initial entries")
	}
	// Each write gets its own modification time, whatever the file
	// system's clock granularity.
	stamp := time.Now().Add(time.Hour)
	rewrite := func(text string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		stamp = stamp.Add(time.Second)
		if err := os.Chtimes(path, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(bookTOML+"\n[[entry]]\nname = \"newbbs\"\naddress = \"new.example.org:23\"\n", 0o600)
	if !resolves("newbbs") || !resolves("mybbs") {
		t.Fatal("the entry added to the file is not dialable")
	}
	// A syntax error, then a mode others may read: the last good entries
	// stay, with the error.
	for _, c := range []struct {
		text string
		mode os.FileMode
		want error
	}{
		{"[[entry]\n", 0o600, ErrPhonebook},
		{bookTOML, 0o644, ErrInsecureFile},
	} {
		rewrite(c.text, c.mode)
		for range 2 {
			pb, err := f.Current()
			if !errors.Is(err, c.want) {
				t.Fatalf("Current after a bad change: %v, want %v", err, c.want)
			}
			if tg, err := pb.Resolve("newbbs"); err != nil || tg.Name != "newbbs" {
				t.Fatalf("the last good entries are gone: %v %v", tg, err)
			}
		}
	}
	rewrite(bookTOML, 0o600)
	if resolves("newbbs") || !resolves("mybbs") {
		t.Fatal("the fixed file is not read")
	}
}
