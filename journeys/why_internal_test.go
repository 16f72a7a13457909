package journeys

import (
	"strings"
	"testing"

	"github.com/cedula/cedula/consent"
)

// TestWhyText: the paragraph outside the wallet names the purpose in the
// message's language, its agency and what it rests on, and says how to
// stop it: withdraw a consent, object where the citizen may, stop sharing
// a location for alerts; never a link.
func TestWhyText(t *testing.T) {
	p := consent.Purpose{Name: consent.Text{ES: "Avisarle de la ayuda por hijos", EN: "Telling you about the child benefit"}, LegalBasis: consent.Consent}
	task := consent.Purpose{Name: consent.Text{ES: "Avisos de inundación", EN: "Flood warnings"}, LegalBasis: consent.PublicTask}
	profiled := task
	profiled.Profiling = true
	for _, c := range []struct {
		name, lang string
		p          consent.Purpose
		alert      bool
		want, not  []string
	}{
		{"consent, es", "es", p, false, []string{"«Avisarle de la ayuda por hijos»", "de BPS", "retirar ese consentimiento", "«Tus consentimientos»"}, []string{"oponerse", "avisos"}},
		{"consent, en", "en", p, false, []string{"“Telling you about the child benefit”", "from BPS", "withdraw that consent"}, []string{"object"}},
		{"public task, es", "es", task, false, []string{"«Avisos de inundación»", "una tarea de interés público"}, []string{"retirar", "oponerse"}},
		{"public task with profiling, en", "en", profiled, false, []string{"a task in the public interest", "object to it"}, []string{"withdraw"}},
		{"a targeted alert, en", "en", task, true, []string{"Flood warnings", "you shared where you want alerts for", "stop sharing"}, nil},
		{"a targeted alert, es", "es", task, true, []string{"compartió dónde quiere recibir avisos"}, nil},
	} {
		got := whyText(c.lang, c.p, "BPS", c.alert)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", c.name, got, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: %q has %q", c.name, got, n)
			}
		}
		if strings.Contains(got, "http") || strings.Contains(got, "www.") {
			t.Errorf("%s: %q carries a link", c.name, got)
		}
	}
}
