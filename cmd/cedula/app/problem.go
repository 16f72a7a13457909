package app

import (
	"net/http"

	"github.com/cedula/cedula/internal/problem"
)

// writeProblem writes an RFC 9457 problem (through internal/problem, the one
// writer of problem JSON). detail is shown to the client and must not carry
// internals.
func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	problem.Write(w, problem.Problem{Title: title, Status: status, Detail: detail, Lang: "en"})
}
