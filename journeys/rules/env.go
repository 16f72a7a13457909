package rules

import (
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Limits on a definition and on a citizen's values. Together they bound
// the work one evaluation can do: a rule whose worst case over values
// within these limits costs more than MaxCost is refused when defined,
// and evaluation stops at MaxCost whatever happens.
const (
	MaxSourceLen = 2048 // bytes in a rule or score expression
	MaxDepth     = 32   // nesting of the expression
	MaxCost      = 10000
	MaxStringLen = 256 // bytes in a string value
	MaxListLen   = 32  // elements in a list value
	maxRegexSize = 256 // RE2 program size of a matches() pattern
)

// AgeAt is the function age_at(birthdate, at): the whole years a person
// born on birthdate has completed on at, both read as dates in UTC. Someone
// born on 29 February completes a year on 1 March in common years. Rules use
// it with now: age_at(birthdate, now) >= 65.
const AgeAt = "age_at"

func newEnv(vars []cel.EnvOption) (*cel.Env, error) {
	opts := append([]cel.EnvOption{
		cel.ParserExpressionSizeLimit(MaxSourceLen),
		cel.ParserRecursionLimit(MaxDepth),
		cel.RegexProgramSizeLimit(maxRegexSize),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.Function(AgeAt, cel.Overload("age_at_timestamp_timestamp",
			[]*cel.Type{cel.TimestampType, cel.TimestampType}, cel.IntType,
			cel.BinaryBinding(ageAtVal))),
	}, vars...)
	return cel.NewEnv(opts...)
}

func ageAtVal(b, at ref.Val) ref.Val {
	bt, ok1 := b.(types.Timestamp)
	at2, ok2 := at.(types.Timestamp)
	if !ok1 || !ok2 {
		return types.NewErr("age_at: want two timestamps")
	}
	return types.Int(ageAt(bt.Time, at2.Time))
}

func ageAt(birth, at time.Time) int64 {
	by, bm, bd := birth.UTC().Date()
	ay, am, ad := at.UTC().Date()
	years := int64(ay - by)
	if am < bm || am == bm && ad < bd {
		years--
	}
	return years
}

// day is t's calendar date in its own location, as 00:00 UTC.
func day(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// sizes tells the cost estimator how large an attribute's value can be.
type sizes struct{ c *Catalogue }

func (s sizes) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	p := n.Path()
	if len(p) == 0 || len(p) > 2 {
		return nil
	}
	a, ok := s.c.Lookup(p[0])
	if !ok {
		return nil
	}
	switch {
	case len(p) == 1 && a.Kind == String, len(p) == 2 && p[1] == "@items" && a.Kind == StringList:
		return &cost.SizeEstimate{Min: 0, Max: MaxStringLen}
	case len(p) == 1 && a.Kind == StringList:
		return &cost.SizeEstimate{Min: 0, Max: MaxListLen}
	}
	return nil
}

func (sizes) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	return nil
}
