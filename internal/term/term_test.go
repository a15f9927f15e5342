package term

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/creack/pty"

	"github.com/dialgate/dialgate/internal/testutil"
)

func TestReadLine(t *testing.T) {
	r := strings.NewReader("secret\r\nrest")
	got, err := ReadLine(r)
	if err != nil || got != "secret" {
		t.Fatalf("ReadLine = %q, %v", got, err)
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "rest" {
		t.Errorf("ReadLine consumed past the line: rest %q", rest)
	}
	if got, err := ReadLine(strings.NewReader("last")); err != nil || got != "last" {
		t.Errorf("unterminated last line: %q, %v", got, err)
	}
	if _, err := ReadLine(strings.NewReader("")); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("empty input: %v", err)
	}
	if _, err := ReadLine(strings.NewReader(strings.Repeat("x", 2000))); err == nil {
		t.Error("over-long line accepted")
	}
}

func TestNonTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Fatal("a file is a terminal")
	}
	restore, err := MakeRaw(f)
	if err != nil || restore() != nil {
		t.Fatalf("MakeRaw on a file: %v", err)
	}
	if _, err := Size(f); !errors.Is(err, ErrNotTerminal) {
		t.Errorf("Size on a file: %v", err)
	}
}

// TestPTY checks raw mode, size and the password prompt on a real pty.
func TestPTY(t *testing.T) {
	testutil.CheckGoroutines(t)
	ptmx, tty := openPTY(t)
	if err := pty.Setsize(ptmx, &pty.Winsize{Cols: 100, Rows: 30}); err != nil {
		t.Fatal(err)
	}
	if ws, err := Size(tty); err != nil || ws.Cols != 100 || ws.Rows != 30 {
		t.Fatalf("Size = %+v, %v", ws, err)
	}
	restore, err := MakeRaw(tty)
	if err != nil {
		t.Fatal(err)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	go io.WriteString(ptmx, "hunter2\n")
	var prompt strings.Builder
	pw, err := ReadPassword(tty, &prompt, "Password: ")
	if err != nil || pw != "hunter2" {
		t.Fatalf("ReadPassword = %q, %v", pw, err)
	}
	if prompt.String() != "Password: \n" {
		t.Errorf("prompt %q", prompt.String())
	}
	go io.WriteString(ptmx, "hunter3\r\n")
	b, err := ReadPasswordBytes(tty, io.Discard, "Password: ")
	if err != nil || string(b) != "hunter3" {
		t.Fatalf("ReadPasswordBytes = %q, %v", b, err)
	}
	if rest := b[len(b):cap(b)]; bytes.ContainsAny(rest, "hunter3\r") {
		t.Errorf("the buffer past the password holds %q", bytes.Trim(rest, "\x00"))
	}
}

// TestPasswordNotEchoed: the password typed on a pty the moment its prompt
// shows is not echoed (echo is off before the prompt is written), and the
// terminal echoes again afterwards.
func TestPasswordNotEchoed(t *testing.T) {
	testutil.CheckGoroutines(t)
	ptmx, tty := openPTY(t)
	type result struct {
		pw  string
		err error
	}
	got := make(chan result, 1)
	go func() {
		pw, err := ReadPassword(tty, tty, "Password: ")
		got <- result{pw, err}
	}()
	var screen []byte
	buf := make([]byte, 256)
	for !bytes.Contains(screen, []byte("Password: ")) {
		n, err := ptmx.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		screen = append(screen, buf[:n]...)
	}
	if _, err := io.WriteString(ptmx, "hunter2\n"); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil || r.pw != "hunter2" {
		t.Fatalf("ReadPassword = %q, %v", r.pw, r.err)
	}
	// What the terminal showed after the prompt: the newline ReadPassword
	// writes, never the password. Then a probe, echoed again.
	if _, err := io.WriteString(ptmx, "probe\n"); err != nil {
		t.Fatal(err)
	}
	for !bytes.Contains(screen, []byte("probe")) {
		n, err := ptmx.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		screen = append(screen, buf[:n]...)
	}
	if bytes.Contains(screen, []byte("hunter2")) {
		t.Errorf("the password was echoed: %q", screen)
	}
}

// openPTY opens a pty pair, closed when the test ends; without ptys the
// test is marked missing.
func openPTY(t *testing.T) (ptmx, tty *os.File) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		testutil.Missing(t, "no pty: "+err.Error())
	}
	t.Cleanup(func() { tty.Close(); ptmx.Close() })
	return ptmx, tty
}

// TestPasswordTooLongFlushed: a password typed over the 1024-octet bound
// is refused, and its tail does not stay in the terminal's input queue
// (where the shell would read it, and keep it in its history, once the
// tool exits): the next line read is what is typed after.
func TestPasswordTooLongFlushed(t *testing.T) {
	testutil.CheckGoroutines(t)
	ptmx, tty := openPTY(t)
	long := strings.Repeat("s", maxPassword+100)
	if _, err := io.WriteString(ptmx, long+"\n"); err != nil {
		t.Fatal(err)
	}
	b, err := ReadPasswordBytes(tty, io.Discard, "Password: ")
	if err == nil || b != nil {
		t.Fatalf("ReadPasswordBytes of %d octets = %d octets, %v; want an error", len(long), len(b), err)
	}
	if _, err := io.WriteString(ptmx, "next\n"); err != nil {
		t.Fatal(err)
	}
	if next, err := ReadLine(tty); err != nil || next != "next" {
		t.Errorf("the line after the refused password: %q, %v; want \"next\"", next, err)
	}
}
