// Package rules holds the segment rules and propensity scores of citizen
// journeys: CEL expressions (cel.dev/cel-go) over a catalogue of citizen
// attributes, checked when an agency defines a journey and evaluated fast
// over a whole population. It has no HTTP and no storage.
//
// # Catalogue
//
// A Catalogue lists the attributes a rule may read, each with its CEL type
// and the personal data category it belongs to (Default: birthdate and age
// are identity data, municipality and postal_code address, income_band
// income, household_size household, benefits benefits, credentials — the
// types of credential held — credentials, …). Callers may declare their
// own with NewCatalogue.
//
// # Definition
//
// CompileRule (bool) and CompileScore (double or int) parse and type-check
// an expression against the catalogue and the categories the journey's
// purpose covers (consent.Purpose.Categories). The attributes it reads are
// found on the checked AST — every free identifier, resolved through the
// checker's reference map, the variables of exists/all/map/filter left
// out — never by reading the source as text. A rule is refused, with every
// problem at once in an *InvalidError, when it reads an attribute of a
// category the purpose does not cover (ErrNotCovered, naming attribute and
// category), names one the catalogue does not have (ErrUnknownAttribute),
// does not parse or type-check or has the wrong type (ErrInvalid, with line
// and column), or is longer than MaxSourceLen or nested deeper than
// MaxDepth, or could cost more than MaxCost for one citizen
// (ErrTooCostly). Reads and Categories tell the caller which data to ask
// the consent ledger about: exactly those.
//
// The cost bound is static: cel-go's estimator works out the worst case
// given that a citizen's strings hold at most MaxStringLen bytes and lists
// at most MaxListLen elements, which Values enforces. A rule that passes
// cannot run long, so evaluation carries no run-time cost tracker (which
// would cost more than the rule itself).
//
// # Time
//
// now is a timestamp variable: the day of the run, at 00:00 UTC (the
// caller's date, in the caller's location). Dates such as birthdate are
// held the same way, so CEL's calendar functions agree:
//
//	age_at(birthdate, now) >= 65                       // 65 or older today
//	birthdate.getMonth() == now.getMonth() &&
//	  now.getFullYear() - birthdate.getFullYear() == 65 // turns 65 this month
//
// age_at(birthdate, at) counts completed years; a 29 February birthday
// comes round on 1 March in common years.
//
// # Evaluation
//
// A citizen's Values are a slice indexed by attribute, filled once; an
// evaluation builds no map and allocates nothing. An attribute not set is
// unknown: a rule that needs it to decide does not match (Match returns the
// error), while one that decides without it (false && …) does. Select runs
// a rule, and optionally a score with a limit, over a stream of citizens
// on all cores and returns the matching IDs, highest score first; scores
// are used to order and then dropped.
package rules
