package rules

import (
	"fmt"
	"slices"
	"sync"

	"cel.dev/cel-go/cel"
)

// Kind is the CEL type of an attribute.
type Kind uint8

const (
	String     Kind = iota + 1 // CEL string
	Int                        // CEL int
	Double                     // CEL double
	Bool                       // CEL bool
	Timestamp                  // CEL google.protobuf.Timestamp; dates are 00:00 UTC of the day
	StringList                 // CEL list(string)
)

var kindNames = [...]string{String: "string", Int: "int", Double: "double", Bool: "bool", Timestamp: "timestamp", StringList: "list(string)"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

func (k Kind) celType() *cel.Type {
	switch k {
	case String:
		return cel.StringType
	case Int:
		return cel.IntType
	case Double:
		return cel.DoubleType
	case Bool:
		return cel.BoolType
	case Timestamp:
		return cel.TimestampType
	case StringList:
		return cel.ListType(cel.StringType)
	}
	return nil
}

// Attribute is one fact about a citizen that a rule or a template may read.
type Attribute struct {
	// Name is how rules and templates refer to it: a lowercase identifier
	// (a-z, 0-9, _), at most 64 bytes, not a CEL keyword or type name, not
	// "now".
	Name string
	Kind Kind
	// Category is the personal data category it belongs to, as in
	// consent.Purpose.Categories: reading it needs a purpose covering it.
	Category string
}

// Catalogue is the set of attributes rules and templates may name, with the
// CEL environment declaring them. It is immutable and safe for concurrent
// use.
type Catalogue struct {
	attrs []Attribute
	index map[string]int
	env   *cel.Env
}

// Now is the variable holding the day of the run, a timestamp at 00:00 UTC;
// it is no citizen's data and needs no category.
const Now = "now"

// reserved are names an attribute may not take: CEL keywords and the
// identifiers of its types, which an attribute would shadow.
var reserved = []string{
	Now, "true", "false", "null", "in", "as", "break", "const", "continue", "else",
	"for", "function", "if", "import", "let", "loop", "package", "namespace", "return",
	"var", "void", "while", "int", "uint", "double", "bool", "string", "bytes", "list",
	"map", "type", "null_type", "dyn", "timestamp", "duration", "optional_type",
}

// NewCatalogue checks attrs and declares them. Every problem is reported
// at once in an *InvalidError.
func NewCatalogue(attrs []Attribute) (*Catalogue, error) {
	c := &Catalogue{attrs: slices.Clone(attrs), index: make(map[string]int, len(attrs))}
	var problems []Problem
	bad := func(a Attribute, format string, args ...any) {
		problems = append(problems, Problem{Err: ErrInvalid, Attribute: a.Name, Msg: fmt.Sprintf(format, args...)})
	}
	opts := []cel.EnvOption{cel.Variable(Now, cel.TimestampType)}
	for i, a := range c.attrs {
		if !validName(a.Name) {
			bad(a, "attribute name %.80q is not a lowercase identifier of at most 64 bytes", a.Name)
		} else if slices.Contains(reserved, a.Name) {
			bad(a, "attribute name %q is reserved", a.Name)
		}
		if _, dup := c.index[a.Name]; dup {
			bad(a, "attribute %.80q is declared twice", a.Name)
		} else {
			c.index[a.Name] = i
		}
		t := a.Kind.celType()
		if t == nil {
			bad(a, "attribute %.80q has no valid kind", a.Name)
		} else {
			opts = append(opts, cel.Variable(a.Name, t))
		}
		if a.Category == "" || len(a.Category) > 64 {
			bad(a, "attribute %.80q needs a category of 1 to 64 bytes", a.Name)
		}
	}
	if len(problems) > 0 {
		return nil, &InvalidError{What: "catalogue", Problems: problems}
	}
	env, err := newEnv(opts)
	if err != nil {
		return nil, fmt.Errorf("journeys: declare catalogue: %w", err)
	}
	c.env = env
	return c, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_') {
			return false
		}
	}
	return true
}

// DefaultAttributes is the catalogue Default declares.
var DefaultAttributes = []Attribute{
	{"given_name", String, "identity"},
	{"family_name", String, "identity"},
	{"birthdate", Timestamp, "identity"},
	{"age", Int, "identity"},
	{"municipality", String, "address"},
	{"department", String, "address"},
	{"postal_code", String, "address"},
	{"income_band", String, "income"},
	{"monthly_income", Double, "income"},
	{"household_size", Int, "household"},
	{"dependants", Int, "household"},
	{"employment_status", String, "employment"},
	{"disability", Bool, "health"},
	{"benefits", StringList, "benefits"},
	{"credentials", StringList, "credentials"},
}

// Default returns the catalogue of DefaultAttributes.
var Default = sync.OnceValue(func() *Catalogue {
	c, err := NewCatalogue(DefaultAttributes)
	if err != nil {
		panic(err) // DefaultAttributes is a constant; a test checks it
	}
	return c
})

// Attributes returns the attributes in declaration order.
func (c *Catalogue) Attributes() []Attribute { return slices.Clone(c.attrs) }

// Index returns the position of the attribute named name, or false.
func (c *Catalogue) Index(name string) (int, bool) {
	i, ok := c.index[name]
	return i, ok
}

// Lookup returns the attribute named name, or false.
func (c *Catalogue) Lookup(name string) (Attribute, bool) {
	if i, ok := c.index[name]; ok {
		return c.attrs[i], true
	}
	return Attribute{}, false
}

// Check returns nil if name is an attribute of a category in covered,
// otherwise the problem (ErrUnknownAttribute or ErrNotCovered) naming it.
func (c *Catalogue) Check(name string, covered []string) *Problem {
	a, ok := c.Lookup(name)
	if !ok {
		return &Problem{Err: ErrUnknownAttribute, Attribute: name,
			Msg: fmt.Sprintf("unknown attribute %.80q", name)}
	}
	if !slices.Contains(covered, a.Category) {
		return &Problem{Err: ErrNotCovered, Attribute: name, Category: a.Category,
			Msg: fmt.Sprintf("attribute %q is %s data, which the purpose does not cover", name, a.Category)}
	}
	return nil
}
