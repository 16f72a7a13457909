package openapi

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cedula/cedula/internal/httpapi"
)

//go:embed *.yaml
var files embed.FS

// Names are the documents, by audience, in the order the docs page lists
// them.
var Names = []string{"agency", "issuance", "verification", "journeys", "messages", "admin", "dpo", "account", "mobile", "log"}

// Doc is one loaded and validated document.
type Doc struct {
	Name string
	T    *openapi3.T
	YAML []byte
	JSON []byte
}

var (
	loadOnce sync.Once
	docs     []Doc
	loadErr  error
)

// Base is the path prefix of the document's operations: its first
// server's URL without a trailing slash ("" for "/"). The mobile API's
// paths are under /mobile/v1, the others are written in full.
func (d Doc) Base() string {
	if len(d.T.Servers) == 0 {
		return ""
	}
	return strings.TrimSuffix(d.T.Servers[0].URL, "/")
}

// Docs returns every document, loaded and validated once.
func Docs() ([]Doc, error) {
	loadOnce.Do(func() { docs, loadErr = load() })
	return docs, loadErr
}

func load() ([]Doc, error) {
	var out []Doc
	for _, name := range Names {
		raw, err := files.ReadFile(name + ".yaml")
		if err != nil {
			return nil, fmt.Errorf("openapi: %s: %w", name, err)
		}
		l := openapi3.NewLoader()
		t, err := l.LoadFromData(raw)
		if err != nil {
			return nil, fmt.Errorf("openapi: %s: %w", name, err)
		}
		if err := t.Validate(context.Background()); err != nil {
			return nil, fmt.Errorf("openapi: %s is not a valid document: %w", name, err)
		}
		j, err := json.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("openapi: %s: %w", name, err)
		}
		out = append(out, Doc{Name: name, T: t, YAML: raw, JSON: j})
	}
	return out, nil
}

// Prefix is where the documents and their docs page are served.
const Prefix = "/openapi/"

// Mount serves the docs page at /openapi/ and each document at
// /openapi/NAME.json and /openapi/NAME.yaml.
func Mount(e *httpapi.Echo) error {
	ds, err := Docs()
	if err != nil {
		return err
	}
	page, err := docsPage(ds)
	if err != nil {
		return err
	}
	e.GET(Prefix, func(c httpapi.Context) error {
		c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		return c.HTMLBlob(http.StatusOK, page)
	})
	for _, d := range ds {
		e.GET(Prefix+d.Name+".json", func(c httpapi.Context) error { return c.Blob(http.StatusOK, "application/json", d.JSON) })
		e.GET(Prefix+d.Name+".yaml", func(c httpapi.Context) error { return c.Blob(http.StatusOK, "application/yaml", d.YAML) })
	}
	return nil
}

// docsPage renders a plain, accessible page listing every document and
// its operations.
func docsPage(ds []Doc) ([]byte, error) {
	type op struct{ Method, Path, Summary, Scopes string }
	type doc struct {
		Name, Title, Description string
		Ops                      []op
	}
	var data []doc
	for _, d := range ds {
		x := doc{Name: d.Name, Title: d.T.Info.Title, Description: d.T.Info.Description}
		paths := d.T.Paths.Map()
		keys := make([]string, 0, len(paths))
		for p := range paths {
			keys = append(keys, p)
		}
		sort.Strings(keys)
		for _, p := range keys {
			for method, o := range paths[p].Operations() {
				var scopes []string
				if o.Security != nil {
					for _, req := range *o.Security {
						for _, s := range req {
							scopes = append(scopes, s...)
						}
					}
				}
				slices.Sort(scopes)
				x.Ops = append(x.Ops, op{Method: method, Path: d.Base() + p, Summary: o.Summary, Scopes: strings.Join(slices.Compact(scopes), " ")})
			}
		}
		sort.SliceStable(x.Ops, func(i, j int) bool {
			return x.Ops[i].Path < x.Ops[j].Path || (x.Ops[i].Path == x.Ops[j].Path && x.Ops[i].Method < x.Ops[j].Method)
		})
		data = append(data, x)
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var pageTmpl = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cedula APIs</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#111}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ccc;vertical-align:top}
code{font-size:.95em}a{color:#0645ad}</style></head>
<body><main>
<h1>Cedula APIs</h1>
<p>Each API's contract is an OpenAPI 3.0.3 document. Errors are RFC 9457 problem details (<code>application/problem+json</code>); OAuth errors follow RFC 6749.</p>
<nav aria-label="Documents"><ul>{{range .}}<li><a href="#{{.Name}}">{{.Title}}</a></li>{{end}}</ul></nav>
{{range .}}<section aria-labelledby="{{.Name}}">
<h2 id="{{.Name}}">{{.Title}}</h2>
<p>{{.Description}}</p>
<p>Document: <a href="{{.Name}}.json">{{.Name}}.json</a>, <a href="{{.Name}}.yaml">{{.Name}}.yaml</a></p>
<table><caption>Operations of {{.Title}}</caption>
<thead><tr><th scope="col">Method</th><th scope="col">Path</th><th scope="col">What it does</th><th scope="col">Scope</th></tr></thead>
<tbody>{{range .Ops}}<tr><td>{{.Method}}</td><td><code>{{.Path}}</code></td><td>{{.Summary}}</td><td>{{.Scopes}}</td></tr>{{else}}<tr><td colspan="4">No operations yet.</td></tr>{{end}}</tbody>
</table></section>
{{end}}</main></body></html>
`))
