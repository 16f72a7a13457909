package rules

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// Values are one citizen's attributes, held in a slice indexed by the
// catalogue's attributes so that evaluation builds no map. An attribute
// never set is unknown: a rule that needs it to decide does not match.
// Values are not safe for concurrent writes; once filled they may be read
// by any number of evaluations.
type Values struct {
	cat  *Catalogue
	vals []ref.Val
}

// NewValues returns empty values for c's attributes.
func (c *Catalogue) NewValues() *Values {
	return &Values{cat: c, vals: make([]ref.Val, len(c.attrs))}
}

// Catalogue returns the catalogue v was made for.
func (v *Values) Catalogue() *Catalogue { return v.cat }

// Reset unsets every attribute, so that v can be filled for another
// citizen.
func (v *Values) Reset() { clear(v.vals) }

// Get returns the value of the attribute at index i (see Catalogue.Index)
// as a CEL value, or nil when it is not set.
func (v *Values) Get(i int) ref.Val {
	if i < 0 || i >= len(v.vals) {
		return nil
	}
	return v.vals[i]
}

func (v *Values) slot(name string, k Kind) (int, error) {
	i, ok := v.cat.index[name]
	if !ok {
		return 0, fmt.Errorf("%w: %.80q", ErrUnknownAttribute, name)
	}
	if a := v.cat.attrs[i]; a.Kind != k {
		return 0, fmt.Errorf("%w: attribute %q is a %s, not a %s", ErrInvalid, name, a.Kind, k)
	}
	return i, nil
}

func checkString(name, s string) error {
	if len(s) > MaxStringLen || !utf8.ValidString(s) {
		return fmt.Errorf("%w: attribute %q: not valid UTF-8 of at most %d bytes", ErrInvalid, name, MaxStringLen)
	}
	return nil
}

func (v *Values) set(name string, k Kind, x ref.Val) error {
	i, err := v.slot(name, k)
	if err != nil {
		return err
	}
	v.vals[i] = x
	return nil
}

// SetString sets a string attribute.
func (v *Values) SetString(name, s string) error {
	if err := checkString(name, s); err != nil {
		return err
	}
	return v.set(name, String, types.String(s))
}

// SetInt sets an int attribute.
func (v *Values) SetInt(name string, n int64) error { return v.set(name, Int, types.Int(n)) }

// SetDouble sets a double attribute.
func (v *Values) SetDouble(name string, f float64) error {
	return v.set(name, Double, types.Double(f))
}

// SetBool sets a bool attribute.
func (v *Values) SetBool(name string, b bool) error { return v.set(name, Bool, types.Bool(b)) }

// SetTime sets a timestamp attribute; it is held in UTC. Dates such as a
// birthdate are set as 00:00 UTC of the day.
func (v *Values) SetTime(name string, t time.Time) error {
	return v.set(name, Timestamp, types.Timestamp{Time: t.UTC()})
}

// SetStrings sets a list-of-strings attribute to a copy of list, at most
// MaxListLen elements.
func (v *Values) SetStrings(name string, list []string) error {
	if len(list) > MaxListLen {
		return fmt.Errorf("%w: attribute %q: more than %d elements", ErrInvalid, name, MaxListLen)
	}
	for _, s := range list {
		if err := checkString(name, s); err != nil {
			return err
		}
	}
	return v.set(name, StringList, types.NewStringList(types.DefaultTypeAdapter, slices.Clone(list)))
}

// activation is what a program reads its variables from: one citizen's
// values and the day of the run. Implements interpreter.Activation. reads
// lists the attributes the programs read, scanned before the catalogue's
// map: the names CEL asks for are the very strings of the checked
// expression, so the comparison is short.
type activation struct {
	v     *Values
	now   ref.Val
	reads []slot
}

type slot struct {
	name string
	i    int
}

func newActivation(now time.Time, ps ...*program) *activation {
	a := &activation{now: types.Timestamp{Time: day(now)}}
	for _, p := range ps {
		if p == nil {
			continue
		}
		for _, i := range p.reads {
			a.reads = append(a.reads, slot{p.cat.attrs[i].Name, i})
		}
	}
	return a
}

func (a *activation) ResolveName(name string) (any, bool) {
	i := -1
	for _, s := range a.reads {
		if s.name == name {
			i = s.i
			break
		}
	}
	if i < 0 {
		if name == Now {
			return a.now, true
		}
		var ok bool
		if i, ok = a.v.cat.index[name]; !ok {
			return nil, false
		}
	}
	if x := a.v.vals[i]; x != nil {
		return x, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
