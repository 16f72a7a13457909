package cap

// Status is the handling of an alert (§3.2.1 status).
type Status string

// MsgType is the nature of an alert (§3.2.1 msgType).
type MsgType string

// Scope is the intended distribution of an alert (§3.2.1 scope).
type Scope string

// Category is a general class of the event (§3.2.2 category).
type Category string

// ResponseType is an action recommended to the audience (§3.2.2
// responseType).
type ResponseType string

// Urgency is how soon the audience should act (§3.2.2 urgency).
type Urgency string

// Severity is how much harm the event may do (§3.2.2 severity).
type Severity string

// Certainty is how sure the sender is of the event (§3.2.2 certainty).
type Certainty string

// The values of the enumerations, as CAP 1.2 spells them.
const (
	StatusActual   Status = "Actual"
	StatusExercise Status = "Exercise"
	StatusSystem   Status = "System"
	StatusTest     Status = "Test"
	StatusDraft    Status = "Draft"

	MsgAlert  MsgType = "Alert"
	MsgUpdate MsgType = "Update"
	MsgCancel MsgType = "Cancel"
	MsgAck    MsgType = "Ack"
	MsgError  MsgType = "Error"

	ScopePublic     Scope = "Public"
	ScopeRestricted Scope = "Restricted"
	ScopePrivate    Scope = "Private"

	CategoryGeo       Category = "Geo"
	CategoryMet       Category = "Met"
	CategorySafety    Category = "Safety"
	CategorySecurity  Category = "Security"
	CategoryRescue    Category = "Rescue"
	CategoryFire      Category = "Fire"
	CategoryHealth    Category = "Health"
	CategoryEnv       Category = "Env"
	CategoryTransport Category = "Transport"
	CategoryInfra     Category = "Infra"
	CategoryCBRNE     Category = "CBRNE"
	CategoryOther     Category = "Other"

	ResponseShelter  ResponseType = "Shelter"
	ResponseEvacuate ResponseType = "Evacuate"
	ResponsePrepare  ResponseType = "Prepare"
	ResponseExecute  ResponseType = "Execute"
	ResponseAvoid    ResponseType = "Avoid"
	ResponseMonitor  ResponseType = "Monitor"
	ResponseAssess   ResponseType = "Assess"
	ResponseAllClear ResponseType = "AllClear"
	ResponseNone     ResponseType = "None"

	UrgencyImmediate Urgency = "Immediate"
	UrgencyExpected  Urgency = "Expected"
	UrgencyFuture    Urgency = "Future"
	UrgencyPast      Urgency = "Past"
	UrgencyUnknown   Urgency = "Unknown"

	SeverityExtreme  Severity = "Extreme"
	SeveritySevere   Severity = "Severe"
	SeverityModerate Severity = "Moderate"
	SeverityMinor    Severity = "Minor"
	SeverityUnknown  Severity = "Unknown"

	CertaintyObserved Certainty = "Observed"
	CertaintyLikely   Certainty = "Likely"
	CertaintyPossible Certainty = "Possible"
	CertaintyUnlikely Certainty = "Unlikely"
	CertaintyUnknown  Certainty = "Unknown"
)

var (
	statuses      = []Status{StatusActual, StatusExercise, StatusSystem, StatusTest, StatusDraft}
	msgTypes      = []MsgType{MsgAlert, MsgUpdate, MsgCancel, MsgAck, MsgError}
	scopes        = []Scope{ScopePublic, ScopeRestricted, ScopePrivate}
	categories    = []Category{CategoryGeo, CategoryMet, CategorySafety, CategorySecurity, CategoryRescue, CategoryFire, CategoryHealth, CategoryEnv, CategoryTransport, CategoryInfra, CategoryCBRNE, CategoryOther}
	responseTypes = []ResponseType{ResponseShelter, ResponseEvacuate, ResponsePrepare, ResponseExecute, ResponseAvoid, ResponseMonitor, ResponseAssess, ResponseAllClear, ResponseNone}
	urgencies     = []Urgency{UrgencyImmediate, UrgencyExpected, UrgencyFuture, UrgencyPast, UrgencyUnknown}
	severities    = []Severity{SeverityExtreme, SeveritySevere, SeverityModerate, SeverityMinor, SeverityUnknown}
	certainties   = []Certainty{CertaintyObserved, CertaintyLikely, CertaintyPossible, CertaintyUnlikely, CertaintyUnknown}
)
