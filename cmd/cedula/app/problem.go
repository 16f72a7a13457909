package app

import (
	"net/http"

	"github.com/cedula/cedula/web"
)

// writeProblem writes an RFC 9457 problem (through web.WriteProblem, the one
// writer of problem JSON). detail is shown to the client and must not carry
// internals.
func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	web.WriteProblem(w, web.Problem{Title: title, Status: status, Detail: detail, Lang: "en"})
}
