package journeysapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/journeys"
	"github.com/cedula/cedula/journeys/cap"
	"github.com/cedula/cedula/journeys/delivery"
)

// Subjects maps the sub an agency knows a citizen by to the citizen.
type Subjects interface {
	SubjectCitizen(ctx context.Context, clientID, sub string) (string, error)
}

// ErrUnknownSubject: the agency knows no citizen by that sub.
var ErrUnknownSubject = errors.New("journeysapi: unknown subject")

// definition is a journey as the API shows it: the definition, and what
// running it reads of citizens.
type definition struct {
	journeys.Journey
	Categories []string `json:"categories"`
}

func view(c *journeys.Compiled) definition {
	d := definition{Journey: c.Journey, Categories: c.Categories}
	d.Agency = ""
	return d
}

func (a *API) list(c httpapi.Context) error {
	out := []definition{}
	for _, j := range a.cfg.Journeys.List(httpapi.CallerOf(c).ClientID) {
		out = append(out, view(j))
	}
	return httpapi.JSON(c, http.StatusOK, map[string]any{"items": out})
}

func (a *API) get(c httpapi.Context) error {
	j, err := a.cfg.Journeys.Get(httpapi.CallerOf(c).ClientID, c.Param("id"))
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, view(j))
}

// put defines (or redefines) a journey; its id is the path's.
func (a *API) put(c httpapi.Context) error {
	var in journeys.Journey
	if err := httpapi.Bind(c, &in); err != nil {
		return err
	}
	if in.ID == "" {
		in.ID = c.Param("id")
	}
	if in.ID != c.Param("id") {
		return httpapi.BadRequest("the body's id is not the path's")
	}
	if in.Agency != "" && in.Agency != httpapi.CallerOf(c).ClientID {
		return httpapi.BadRequest("agency, when given, must be the caller")
	}
	j, err := a.cfg.Journeys.Define(c.Request().Context(), httpapi.CallerOf(c).ClientID, in)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, view(j))
}

func (a *API) retire(c httpapi.Context) error {
	if err := a.cfg.Journeys.Retire(c.Request().Context(), httpapi.CallerOf(c).ClientID, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// reach is a dry run's answer; a count under journeys.Suppressed is
// null with suppressed true.
type reach struct {
	Considered int         `json:"considered"`
	Allowed    count       `json:"allowed"`
	Matched    count       `json:"matched"`
	Reached    count       `json:"reached"`
	Steps      []stepCount `json:"steps"`
}

type count struct {
	Count      *int `json:"count"`
	Suppressed bool `json:"suppressed,omitempty"`
}

type stepCount struct {
	Step string `json:"step"`
	count
}

func countOf(n journeys.Count) count { return count{Count: n, Suppressed: n == nil} }

func (a *API) dryRun(c httpapi.Context) error {
	r, err := a.cfg.Journeys.DryRun(c.Request().Context(), httpapi.CallerOf(c).ClientID, c.Param("id"))
	if err != nil {
		return err
	}
	out := reach{Considered: r.Considered, Allowed: countOf(r.Allowed), Matched: countOf(r.Matched), Reached: countOf(r.Reached), Steps: []stepCount{}}
	for _, s := range r.Steps {
		out.Steps = append(out.Steps, stepCount{Step: s.Step, count: countOf(s.Count)})
	}
	return httpapi.JSON(c, http.StatusOK, out)
}

// push stores what the agency knows of the citizen it calls sub, and
// runs the journeys that listen for registry changes.
func (a *API) push(c httpapi.Context) error {
	var in struct {
		Attributes map[string]json.RawMessage `json:"attributes"`
	}
	if err := httpapi.Bind(c, &in); err != nil {
		return err
	}
	if in.Attributes == nil {
		return httpapi.BadRequest("attributes is required")
	}
	ctx := c.Request().Context()
	agency := httpapi.CallerOf(c).ClientID
	citizen, err := a.cfg.Subjects.SubjectCitizen(ctx, agency, c.Param("sub"))
	if err != nil {
		return err
	}
	n, err := a.cfg.Journeys.PushAttributes(ctx, agency, citizen, in.Attributes)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, map[string]int{"entered": n})
}

// alert publishes a CAP alert (the body, XML).
func (a *API) alert(c httpapi.Context) error {
	r := c.Request()
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/cap+xml" && mt != "application/xml" { // as openapi/journeys.yaml says
		return httpapi.Problem(http.StatusUnsupportedMediaType, "Unsupported media type", "the body must be a CAP 1.2 alert (application/cap+xml or application/xml)")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, cap.MaxSize+1))
	if err != nil {
		return httpapi.BadRequest("the body could not be read")
	}
	if len(body) > cap.MaxSize {
		return httpapi.Problem(http.StatusRequestEntityTooLarge, "Too large", "the alert is larger than 1 MiB")
	}
	q := r.URL.Query()
	in, err := a.cfg.Journeys.Ingest(r.Context(), httpapi.CallerOf(c).ClientID, body, q.Get("mode"), q.Get("purpose"))
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if in.Again {
		status = http.StatusOK // the same alert, published before
	}
	return httpapi.JSON(c, status, map[string]any{"key": in.Notice.Key, "msg_type": in.Notice.MsgType, "code": in.Notice.Code,
		"status": in.Notice.Status, "reached": in.Reached})
}

// Classify maps the room's errors to problems.
func Classify(err error) *httpapi.Error {
	var de *journeys.DefinitionError
	switch {
	case errors.As(err, &de):
		e := &httpapi.Error{Status: http.StatusUnprocessableEntity, Slug: "journey-refused", Title: "The journey is refused",
			Detail: strings.Join(de.Problems, "; ")}
		return e
	case errors.Is(err, journeys.ErrAlertExists):
		return &httpapi.Error{Status: http.StatusConflict, Slug: "alert-exists", Title: "Another alert has this identifier",
			Detail: "an alert with this sender, identifier and sent time was published with other content, mode or purpose, or by another agency; a CAP identifier is unique to its sender"}
	case errors.Is(err, journeys.ErrExpired):
		return &httpapi.Error{Status: http.StatusUnprocessableEntity, Slug: "alert-expired", Title: "The alert has expired", Detail: "every info of the alert expired before it arrived"}
	case errors.Is(err, ErrUnknownSubject):
		return httpapi.NotFound("this agency knows no citizen by that subject")
	case errors.Is(err, journeys.ErrNotFound):
		return httpapi.NotFound("no such journey of this agency")
	case errors.Is(err, delivery.ErrNotFound):
		return httpapi.NotFound("no such delivery of this agency")
	case errors.Is(err, delivery.ErrConflict):
		return &httpapi.Error{Status: http.StatusConflict, Slug: "not-a-dead-letter", Title: "Not a dead letter",
			Detail: "the delivery is not a dead letter with its message (sent, pending, cancelled or discarded)"}
	case errors.Is(err, journeys.ErrInvalid):
		msg := err.Error()
		if i := strings.Index(msg, journeys.ErrInvalid.Error()+": "); i >= 0 {
			msg = msg[i+len(journeys.ErrInvalid.Error())+2:]
		}
		return httpapi.BadRequest(msg)
	}
	return nil
}
