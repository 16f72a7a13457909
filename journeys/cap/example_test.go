package cap_test

import (
	"fmt"
	"os"
	"time"

	"github.com/cedula/cedula/journeys/cap"
)

// An agency's flood warning: its key, its languages, who lives in it, and
// whether it wakes them.
func ExampleParse() {
	b, err := os.ReadFile("testdata/flood.xml")
	if err != nil {
		fmt.Println(err)
		return
	}
	a, err := cap.Parse(b)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Ref())
	fmt.Println(a.Languages())
	in := a.Info[0]
	fmt.Println(in.Headline)
	fmt.Println("Alzira:", in.Areas[0].Contains(39.151, -0.435), "bypasses quiet hours:", in.BypassQuietHours())
	fmt.Println("expired on the 16th:", a.Expired(time.Date(2026, 10, 16, 0, 0, 0, 0, time.UTC)))

	_, err = cap.Parse([]byte(`<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>1</identifier><sender>s</sender><sent>2026-10-14T06:30:00Z</sent><status>Actual</status><msgType>Cancel</msgType><scope>Public</scope></alert>`))
	fmt.Println(err)
	// Output:
	// alertas@emergencias.cv.example,ES-CV-2026-0412,2026-10-14T06:30:00+02:00
	// [es-ES en-US]
	// Aviso rojo por crecida del Júcar en la Ribera Alta
	// Alzira: true bypasses quiet hours: false
	// expired on the 16th: true
	// cap: sent: "2026-10-14T06:30:00Z": a zone letter such as Z is not allowed, UTC is -00:00
	// cap: references: required for msgType Cancel, to name the messages it is about
}
