package journeys

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/journeys/message"
	"github.com/cedula/cedula/journeys/rules"
)

// Compiled is a journey checked whole and ready to run.
type Compiled struct {
	Journey
	PurposeDef consent.Purpose
	Rule       *rules.Rule
	Score      *rules.Score
	Messages   map[string]*message.Message
	// Categories are what running it reads of a citizen — its rule's,
	// score's and messages' attributes' categories, or the purpose's own
	// when they read none — which the ledger decides on for each citizen.
	Categories []string
}

// Compile checks j against the ledger's purpose and the catalogue: the
// purpose must exist with j's agency as its controller; the rule, the
// score and every message may read only attributes of the categories the
// purpose covers. Every problem is reported at once (DefinitionError).
func Compile(ctx context.Context, j Journey, ledger Ledger, cat *rules.Catalogue) (*Compiled, error) {
	problems := j.checkShape()
	c := &Compiled{Journey: j, Messages: map[string]*message.Message{}}
	p, err := ledger.Purpose(ctx, j.Purpose)
	switch {
	case errors.Is(err, consent.ErrNotFound) || err == nil && p.Controller != j.Agency:
		problems = append(problems, fmt.Sprintf("purpose %.80q is not one of agency %.80q's", j.Purpose, j.Agency))
		return nil, errDefinition(problems)
	case err != nil:
		return nil, err
	}
	c.PurposeDef = p
	covered := p.Categories
	var reads []rules.Attribute
	if j.Segment != "" {
		if c.Rule, err = cat.CompileRule(j.Segment, covered); err != nil {
			problems = append(problems, "segment: "+err.Error())
		} else {
			reads = append(reads, c.Rule.Reads()...)
		}
	}
	if j.Score != "" {
		if c.Score, err = cat.CompileScore(j.Score, covered); err != nil {
			problems = append(problems, "score: "+err.Error())
		} else {
			reads = append(reads, c.Score.Reads()...)
		}
	}
	for _, name := range sortedNames(j.Messages) {
		t := j.Messages[name]
		m, err := message.New(cat, message.Template{Subject: t.ES.Subject, Body: t.ES.Body}, message.Template{Subject: t.EN.Subject, Body: t.EN.Body}, covered)
		if err != nil {
			problems = append(problems, fmt.Sprintf("message %q: %v", name, err))
			continue
		}
		c.Messages[name] = m
		reads = append(reads, m.Reads()...)
	}
	if err := errDefinition(problems); err != nil {
		return nil, err
	}
	for _, a := range reads {
		if !slices.Contains(c.Categories, a.Category) {
			c.Categories = append(c.Categories, a.Category)
		}
	}
	if len(c.Categories) == 0 {
		c.Categories = slices.Clone(p.Categories)
	}
	slices.Sort(c.Categories)
	return c, nil
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
