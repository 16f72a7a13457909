package pages

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/cedula/cedula/web"
)

// Consents is the consent ledger as the account page shows it.
type Consents interface {
	// Of lists the citizen's consents and objections, newest first, named
	// in lang.
	Of(ctx context.Context, citizenID, lang string) ([]ConsentItem, error)
	// Withdraw withdraws the citizen's consent to purpose; at return every
	// decision denies and the agency's tokens that rested on it are
	// revoked. ErrNotWithdrawable when there is no consent to withdraw.
	Withdraw(ctx context.Context, citizenID, purpose string) error
	// Renew confirms a consent awaiting renewal or expired, under the
	// current notice; ErrNotWithdrawable when there is none to renew.
	Renew(ctx context.Context, citizenID, purpose string) error
	// Object records the citizen's objection (GDPR Art. 21) to a profiling
	// purpose on public task or legitimate interest; ErrNotWithdrawable
	// when the purpose admits none or the citizen objected already.
	Object(ctx context.Context, citizenID, purpose string) error
}

// ErrNotWithdrawable: no consent in force (or awaiting renewal) to withdraw,
// none to renew, or no objection possible.
var ErrNotWithdrawable = errors.New("pages: no consent to withdraw")

// ConsentItem is one of the citizen's records, as listed.
type ConsentItem struct {
	Purpose     string // the purpose ID
	Name        string // the purpose's name in the page's language
	Description string
	Agency      string // the controller's name
	NoticeURL   string
	// State is the record's state: given, renewed, refused, withdrawn,
	// expired, objected, renewal_required.
	State        string
	Since        time.Time // when the record last changed; zero without a record
	Withdrawable bool
	Renewable    bool
	// Objectable: a profiling purpose on public task or legitimate
	// interest that the citizen has not objected to.
	Objectable bool
	// ReceiptURL downloads the signed receipt of the latest change.
	ReceiptURL string
}

// consentStates names a record's state on the page.
var consentStates = map[string]string{
	"given": "consents.state.given", "renewed": "consents.state.given", "refused": "consents.state.refused",
	"withdrawn": "consents.state.withdrawn", "expired": "consents.state.expired", "objected": "consents.state.objected",
	"renewal_required": "consents.state.renewal",
}

// withdrawConsent serves POST /account/consents/withdraw: one click, and the
// consent is withdrawn with immediate effect (GDPR Art. 7(3)).
func (h *Handler) withdrawConsent(w http.ResponseWriter, r *http.Request) {
	h.consentChange(w, r, "withdrawn", func(c Consents) func(context.Context, string, string) error { return c.Withdraw })
}

// renewConsent serves POST /account/consents/renew.
func (h *Handler) renewConsent(w http.ResponseWriter, r *http.Request) {
	h.consentChange(w, r, "renewed", func(c Consents) func(context.Context, string, string) error { return c.Renew })
}

// objectToPurpose serves POST /account/consents/object (GDPR Art. 21).
func (h *Handler) objectToPurpose(w http.ResponseWriter, r *http.Request) {
	h.consentChange(w, r, "objected", func(c Consents) func(context.Context, string, string) error { return c.Object })
}

// consentChange runs one of the account page's consent forms: CSRF and
// session, the change, then back to the account page with its notice.
func (h *Handler) consentChange(w http.ResponseWriter, r *http.Request, done string, op func(Consents) func(context.Context, string, string) error) {
	lang, sess, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	purpose := r.PostFormValue("purpose")
	if h.consents == nil || purpose == "" || len(purpose) > 64 {
		h.errorPageBack(w, r, lang, probBadRequest, "/account", "account.title", nil)
		return
	}
	err := op(h.consents)(r.Context(), sess.CitizenID, purpose)
	if errors.Is(err, ErrNotWithdrawable) {
		h.renderAccount(w, r, lang, sess, http.StatusConflict, []web.FieldError{{Message: web.T(lang, "consents.error.none")}}, "")
		return
	} else if err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	http.Redirect(w, r, "/account?done="+done, http.StatusSeeOther)
}
