package bridge

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/internal/config"
)

// TestListenerCharsetReachesPage: a ws listener's charset is the browser
// page's default (browser trial: an ANSI BBS had no way to make CP437 the
// default short of ?charset=cp437 in every link).
func TestListenerCharsetReachesPage(t *testing.T) {
	for _, c := range []struct{ charset, want string }{{"cp437", "cp437"}, {"", "utf-8"}} {
		ln, err := OpenListener(config.Listener{Name: "web", Address: "ws://127.0.0.1:0/line", Charset: c.charset}, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get("http://" + strings.TrimSuffix(strings.TrimPrefix(ln.Addr(), "ws://"), "/line") + "/")
		if err != nil {
			ln.Close()
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ln.Close()
		if want := `<meta name="dialgate-charset" content="` + c.want + `">`; !strings.Contains(string(b), want) {
			t.Errorf("charset %q: the page has no %s", c.charset, want)
		}
	}
}
