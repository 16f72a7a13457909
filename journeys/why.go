package journeys

import (
	"fmt"

	"github.com/cedula/cedula/consent"
)

// Why a citizen got a message, said in the message itself on the channels
// outside the wallet (email, SMS, push), where the wallet's "why" does not
// travel: what it rests on, and how to stop it — in the Cedula app, since
// messages carry no links.

// bases names each legal basis for people.
var bases = map[string]map[consent.LegalBasis]string{
	"es": {consent.Contract: "un contrato con usted", consent.LegalObligation: "una obligación legal",
		consent.VitalInterest: "la protección de su vida o su salud", consent.PublicTask: "una tarea de interés público",
		consent.LegitimateInterest: "un interés legítimo"},
	"en": {consent.Contract: "a contract with you", consent.LegalObligation: "a legal obligation",
		consent.VitalInterest: "protecting your life or health", consent.PublicTask: "a task in the public interest",
		consent.LegitimateInterest: "a legitimate interest"},
}

// whyText is the paragraph that follows a message outside the wallet:
// the purpose and its agency, what it rests on, and how to stop it.
func whyText(lang string, pd consent.Purpose, agency string, alert bool) string {
	name := pd.Name.EN
	if lang == "es" {
		name = pd.Name.ES
	}
	var s string
	switch {
	case lang == "es" && pd.LegalBasis == consent.Consent:
		s = fmt.Sprintf("Recibe este mensaje porque aceptó «%s», de %s. Puede retirar ese consentimiento en la app Cedula o en su cuenta, en «Tus consentimientos».", name, agency)
	case lang == "es":
		s = fmt.Sprintf("Recibe este mensaje por «%s», de %s, que se basa en %s.", name, agency, bases["es"][pd.LegalBasis])
		if pd.Objectable() {
			s += " Puede oponerse en la app Cedula o en su cuenta, en «Tus consentimientos»."
		}
	case pd.LegalBasis == consent.Consent:
		s = fmt.Sprintf("You get this message because you agreed to “%s”, from %s. You can withdraw that consent in the Cedula app or your account, under “Your consents”.", name, agency)
	default:
		s = fmt.Sprintf("You get this message for “%s”, from %s, which rests on %s.", name, agency, bases["en"][pd.LegalBasis])
		if pd.Objectable() {
			s += " You can object to it in the Cedula app or your account, under “Your consents”."
		}
	}
	if alert {
		if lang == "es" {
			return s + " Le llega porque compartió dónde quiere recibir avisos; puede dejar de compartirlo en la app."
		}
		return s + " It reaches you because you shared where you want alerts for; you can stop sharing it in the app."
	}
	return s
}
