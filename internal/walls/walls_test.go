// Package walls holds the test of the house's walls: which package may
// import which (DESIGN.md: dependencies flow one way; rooms own their
// APIs on the one edge; plumbing sits under every room).
package walls

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/cedula/cedula"

// rooms are the top-level folders that are rooms (cmd, internal, web and
// openapi are not domain rooms; openapi and web are imported by the
// edge's users only).
var rooms = []string{"audit", "consent", "issuer", "wallet", "verifier", "journeys", "mobile-api"}

// pkg is one production package: its folder and the imports of its
// non-test files.
type pkg struct {
	dir     string // relative to the module root, with slashes
	imports map[string][]string
}

func loadPackages(t *testing.T) []pkg {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s", root)
	}
	byDir := map[string]*pkg{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		p := byDir[rel]
		if p == nil {
			p = &pkg{dir: rel, imports: map[string][]string{}}
			byDir[rel] = p
		}
		for _, is := range f.Imports {
			ip, _ := strconv.Unquote(is.Path.Value)
			p.imports[ip] = append(p.imports[ip], name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []pkg
	for _, p := range byDir {
		out = append(out, *p)
	}
	return out
}

// ours returns the folder an import of this module names, or "".
func ours(ip string) string {
	if ip == module {
		return "."
	}
	rest, ok := strings.CutPrefix(ip, module+"/")
	if !ok {
		return ""
	}
	return rest
}

func top(dir string) string { first, _, _ := strings.Cut(dir, "/"); return first }

func isRoom(dir string) bool {
	for _, r := range rooms {
		if top(dir) == r {
			return true
		}
	}
	return false
}

// testSupport reports whether dir is a package of test helpers (…test,
// rptest, browsertest, testenv): they may use httptest and the like.
func testSupport(dir string) bool {
	last := dir[strings.LastIndex(dir, "/")+1:]
	return strings.HasSuffix(last, "test") || last == "testenv"
}

// backend reports whether dir is a room's storage backend.
func backend(dir string) bool { return strings.HasSuffix(dir, "/sqlstore") }

// apiPackage reports whether dir is a room's HTTP API (…api).
func apiPackage(dir string) bool {
	last := dir[strings.LastIndex(dir, "/")+1:]
	return strings.HasSuffix(last, "api") && isRoom(dir)
}

func TestWalls(t *testing.T) {
	pkgs := loadPackages(t)
	if len(pkgs) < 20 {
		t.Fatalf("found %d packages; the walk missed the tree", len(pkgs))
	}
	for _, p := range pkgs {
		for ip, files := range p.imports {
			dep := ours(ip)
			where := p.dir + " (" + strings.Join(files, ", ") + ") imports " + ip
			switch {
			case dep != "" && top(dep) == "cmd" && top(p.dir) != "cmd":
				t.Errorf("%s: nothing imports cmd", where)
			case dep != "" && top(p.dir) == "internal" && top(dep) != "internal" && !testSupport(p.dir):
				t.Errorf("%s: internal/ is plumbing under the rooms and imports none of them", where)
			case dep != "" && top(p.dir) == "audit" && top(dep) != "audit" && top(dep) != "internal":
				t.Errorf("%s: audit imports nothing of ours but internal/…", where)
			case dep != "" && top(p.dir) == "consent" && top(dep) != "consent" && top(dep) != "audit" && top(dep) != "internal":
				t.Errorf("%s: consent imports only audit and internal/…", where)
			}
			if !isRoom(p.dir) || testSupport(p.dir) {
				continue
			}
			switch {
			case strings.HasPrefix(ip, "github.com/labstack/echo") && top(p.dir) != "mobile-api":
				t.Errorf("%s: only the edge (internal/httpapi) and mobile-api import echo; rooms use httpapi's types", where)
			case ip == "net/http/httptest":
				t.Errorf("%s: no production code imports httptest", where)
			case (ip == "modernc.org/sqlite" || strings.HasPrefix(ip, "github.com/jackc/pgx")) && !backend(p.dir):
				t.Errorf("%s: a SQL driver only in a room's backend (…/sqlstore)", where)
			case strings.HasPrefix(ip, "github.com/hashicorp/vault"):
				t.Errorf("%s: Vault only under internal/keys", where)
			case ip == "database/sql" && !backend(p.dir) && !sqlInDomain[p.dir]:
				t.Errorf("%s: database/sql types in a domain package need a named reason (sqlInDomain) or go", where)
			case top(p.dir) == "mobile-api" && dep != "" && backend(dep):
				t.Errorf("%s: mobile-api never imports a store", where)
			}
		}
	}
	// The edge and the reference J are the only echo users outside rooms.
	for _, p := range pkgs {
		for ip := range p.imports {
			if strings.HasPrefix(ip, "github.com/labstack/echo") && !isRoom(p.dir) && !echoUser[p.dir] {
				t.Errorf("%s imports %s: only internal/httpapi (and the benchmark's reference) may", p.dir, ip)
			}
		}
	}
}

// echoUser are the packages outside rooms that import echo, with why.
var echoUser = map[string]bool{
	"internal/httpapi": true, // the edge
	"internal/bench":   true, // J, the yardstick of every speed target, is by definition an echo server
}

// sqlInDomain are the domain packages whose interfaces carry database/sql
// types, with the reason.
var sqlInDomain = map[string]bool{
	// audit.TxAppender and TxSequencer append entries inside the caller's
	// transaction: an audited change commits if and only if its entry
	// does (the house rule), so the unit of work crosses the interface.
	"audit": true,
	// consent.Store's changes take the same transaction to append their
	// audit entries atomically (consent.Store.Change).
	"consent": true,
	// The ceiling benchmarks' least audit log appends in the caller's
	// transaction, as the real log does (audit.TxAppender).
	"audit/floor": true,
}
