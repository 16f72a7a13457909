package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// program is a checked, planned expression and what it reads.
type program struct {
	src   string
	cat   *Catalogue
	prg   cel.Program
	reads []int // indexes of the attributes read, in catalogue order
}

// Source returns the expression as defined.
func (p *program) Source() string { return p.src }

// Reads returns the attributes the expression reads, in catalogue order:
// the ones to ask the consent ledger about.
func (p *program) Reads() []Attribute {
	out := make([]Attribute, len(p.reads))
	for i, j := range p.reads {
		out[i] = p.cat.attrs[j]
	}
	return out
}

// Categories returns the data categories of Reads, sorted, each once.
func (p *program) Categories() []string {
	var out []string
	for _, j := range p.reads {
		out = append(out, p.cat.attrs[j].Category)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// eval runs the program for one citizen.
func (p *program) eval(a *activation) (ref.Val, error) {
	out, _, err := p.prg.Eval(a)
	return out, err
}

// Rule is a compiled segment rule: a CEL expression of type bool over a
// citizen's attributes and now. Safe for concurrent use.
type Rule struct{ program }

// Score is a compiled propensity score: a CEL expression of type double or
// int. Safe for concurrent use.
type Score struct{ program }

// CompileRule checks src as a segment rule for a purpose covering the data
// categories covered. A rule is refused (*InvalidError, ErrInvalid) when it
// does not parse or type-check, is not of type bool, names an attribute not
// in the catalogue (ErrUnknownAttribute), reads one whose category is not
// covered (ErrNotCovered), or is too long or too costly (ErrTooCostly).
func (c *Catalogue) CompileRule(src string, covered []string) (*Rule, error) {
	p, err := c.compile("rule", src, covered, func(t *cel.Type) bool { return t.IsExactType(cel.BoolType) }, "bool")
	if err != nil {
		return nil, err
	}
	return &Rule{*p}, nil
}

// CompileScore checks src as a score, as CompileRule does, but of type
// double or int.
func (c *Catalogue) CompileScore(src string, covered []string) (*Score, error) {
	p, err := c.compile("score", src, covered, func(t *cel.Type) bool {
		return t.IsExactType(cel.DoubleType) || t.IsExactType(cel.IntType)
	}, "double or int")
	if err != nil {
		return nil, err
	}
	return &Score{*p}, nil
}

func (c *Catalogue) compile(what, src string, covered []string, want func(*cel.Type) bool, wantName string) (*program, error) {
	refuse := func(ps ...Problem) error { return &InvalidError{What: what, Problems: ps} }
	switch {
	case len(src) > MaxSourceLen:
		return nil, refuse(Problem{Err: ErrTooCostly, Msg: fmt.Sprintf("longer than %d bytes", MaxSourceLen)})
	case !utf8.ValidString(src):
		return nil, refuse(Problem{Err: ErrInvalid, Msg: "not valid UTF-8"})
	case strings.TrimSpace(src) == "":
		return nil, refuse(Problem{Err: ErrInvalid, Msg: "empty"})
	}
	parsed, iss := c.env.Parse(src)
	if iss.Err() != nil {
		return nil, refuse(c.issues(parsed, iss)...)
	}
	checked, iss := c.env.Check(parsed)
	if iss.Err() != nil {
		return nil, refuse(c.issues(parsed, iss)...)
	}
	var problems []Problem
	if t := checked.OutputType(); !want(t) {
		problems = append(problems, Problem{Err: ErrInvalid, Line: 1, Column: 1,
			Msg: fmt.Sprintf("is of type %s, want %s", cel.FormatCELType(t), wantName)})
	}
	native := checked.NativeRep()
	info := native.SourceInfo()
	p := &program{src: src, cat: c}
	seen := make([]bool, len(c.attrs))
	walkVars(native.Expr(), nil, func(e celast.Expr) {
		name := e.AsIdent()
		if r := native.ReferenceMap()[e.ID()]; r != nil && r.Value == nil {
			name = r.Name
		}
		i, ok := c.index[name]
		if !ok || seen[i] {
			return
		}
		seen[i] = true
		p.reads = append(p.reads, i)
		if pr := c.Check(name, covered); pr != nil {
			at(pr, info, e.ID())
			problems = append(problems, *pr)
		}
	})
	slices.Sort(p.reads)
	if est, err := c.env.EstimateCost(checked, sizes{c}); err != nil || est.Max > MaxCost {
		msg := fmt.Sprintf("worst-case cost exceeds %d", MaxCost)
		if err == nil {
			msg = fmt.Sprintf("worst-case cost %d exceeds %d", est.Max, MaxCost)
		}
		problems = append(problems, Problem{Err: ErrTooCostly, Msg: msg})
	}
	if len(problems) > 0 {
		return nil, refuse(problems...)
	}
	prg, err := c.env.Program(checked, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, refuse(Problem{Err: ErrInvalid, Msg: err.Error()})
	}
	p.prg = prg
	return p, nil
}

// issues turns parser and checker errors into problems; an undeclared
// identifier is an unknown attribute, named.
func (c *Catalogue) issues(parsed *cel.Ast, iss *cel.Issues) []Problem {
	unknown := map[int64]string{}
	if parsed != nil {
		walkVars(parsed.NativeRep().Expr(), nil, func(e celast.Expr) {
			if _, ok := c.index[e.AsIdent()]; !ok && e.AsIdent() != Now {
				unknown[e.ID()] = e.AsIdent()
			}
		})
	}
	var ps []Problem
	for _, e := range iss.Errors() {
		p := Problem{Err: ErrInvalid, Line: e.Location.Line(), Column: e.Location.Column() + 1, Msg: e.Message}
		if name, ok := unknown[e.ExprID]; ok {
			p.Err, p.Attribute, p.Msg = ErrUnknownAttribute, name, fmt.Sprintf("unknown attribute %.80q", name)
		}
		if p.Line < 1 {
			p.Line, p.Column = 0, 0
		}
		ps = append(ps, p)
	}
	return ps
}

// at places p at the start of expression id.
func at(p *Problem, info *celast.SourceInfo, id int64) {
	if l := info.GetStartLocation(id); l.Line() > 0 {
		p.Line, p.Column = l.Line(), l.Column()+1
	}
}

// walkVars calls visit for every identifier in e that is not bound by an
// enclosing comprehension (the variables of exists, all, map, filter): the
// free variables, which are attributes, now, or unknown names.
func walkVars(e celast.Expr, bound []string, visit func(celast.Expr)) {
	switch e.Kind() {
	case celast.IdentKind:
		if !slices.Contains(bound, e.AsIdent()) {
			visit(e)
		}
	case celast.SelectKind:
		walkVars(e.AsSelect().Operand(), bound, visit)
	case celast.CallKind:
		call := e.AsCall()
		if call.IsMemberFunction() {
			walkVars(call.Target(), bound, visit)
		}
		for _, a := range call.Args() {
			walkVars(a, bound, visit)
		}
	case celast.ListKind:
		for _, x := range e.AsList().Elements() {
			walkVars(x, bound, visit)
		}
	case celast.MapKind:
		for _, x := range e.AsMap().Entries() {
			walkVars(x.AsMapEntry().Key(), bound, visit)
			walkVars(x.AsMapEntry().Value(), bound, visit)
		}
	case celast.StructKind:
		for _, x := range e.AsStruct().Fields() {
			walkVars(x.AsStructField().Value(), bound, visit)
		}
	case celast.ComprehensionKind:
		comp := e.AsComprehension()
		walkVars(comp.IterRange(), bound, visit)
		walkVars(comp.AccuInit(), bound, visit)
		withAccu := append(slices.Clip(bound), comp.AccuVar())
		inner := append(slices.Clip(withAccu), comp.IterVar(), comp.IterVar2())
		walkVars(comp.LoopCondition(), inner, visit)
		walkVars(comp.LoopStep(), inner, visit)
		walkVars(comp.Result(), withAccu, visit)
	}
}

// activation returns what p reads v and now from.
func (p *program) activation(v *Values, now time.Time) (*activation, error) {
	if v == nil || v.cat != p.cat {
		return nil, fmt.Errorf("%w: values missing or of another catalogue", ErrInvalid)
	}
	a := newActivation(now, p)
	a.v = v
	return a, nil
}

// Match reports whether the citizen with values v is in the segment on the
// day now (only its date in its location counts). A rule that cannot decide
// — it needs an attribute v does not hold, or fails — returns false and the
// error.
func (r *Rule) Match(v *Values, now time.Time) (bool, error) {
	a, err := r.activation(v, now)
	if err != nil {
		return false, err
	}
	return r.match(a)
}

func (r *Rule) match(a *activation) (bool, error) {
	out, err := r.eval(a)
	if err != nil {
		return false, err
	}
	return out == types.True, nil
}

// Value returns the score of the citizen with values v on the day now.
func (s *Score) Value(v *Values, now time.Time) (float64, error) {
	a, err := s.activation(v, now)
	if err != nil {
		return 0, err
	}
	return s.value(a)
}

func (s *Score) value(a *activation) (float64, error) {
	out, err := s.eval(a)
	if err != nil {
		return 0, err
	}
	switch x := out.(type) {
	case types.Double:
		return float64(x), nil
	case types.Int:
		return float64(x), nil
	}
	return 0, fmt.Errorf("journeys: score is a %s", out.Type())
}
