package cap_test

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/cedula/cedula/journeys/cap"
)

// TestRefusals: each fault, made in the flood warning by one edit, is
// refused with its kind at its element.
func TestRefusals(t *testing.T) {
	flood := string(read(t, "flood.xml"))
	cancel := string(read(t, "flood-cancel.xml"))
	noRefs := strings.NewReplacer("<references>", "<!--", "</references>", "-->").Replace(cancel)
	emptyRefs := strings.NewReplacer("<references>", "<references> </references><!--", "</references>", "-->").Replace(cancel)
	bowtie := "39.2,-0.5 39.1,-0.3 39.2,-0.3 39.1,-0.5 39.2,-0.5"
	for _, tc := range []struct {
		name     string
		doc      string // flood.xml when empty
		old, new string
		path     string
		kind     error
	}{
		{name: "not XML", old: "<alert ", new: "<alert <", kind: cap.ErrSyntax},
		{name: "a DOCTYPE", old: "<alert ", new: `<!DOCTYPE alert [<!ENTITY x "y">]><alert `, kind: cap.ErrSyntax},
		{name: "an undeclared entity", old: "<contact>112</contact>", new: "<contact>&x;</contact>", path: "info[0].contact", kind: cap.ErrSyntax},
		{name: "unclosed", old: "</alert>", new: "", path: "alert", kind: cap.ErrSyntax},
		{name: "a second root", old: "</alert>", new: "</alert><alert/>", kind: cap.ErrSyntax},
		{name: "text after the alert", old: "</alert>", new: "</alert>x", kind: cap.ErrSyntax},
		{name: "another encoding", old: `encoding="UTF-8"`, new: `encoding="ISO-8859-1"`, kind: cap.ErrSyntax},
		{name: "bytes that are not UTF-8", old: "<contact>112</contact>", new: "<contact>1\xff\xfe2</contact>", kind: cap.ErrSyntax},
		{name: "CAP 1.1", old: "cap:1.2", new: "cap:1.1", path: "alert", kind: cap.ErrNamespace},
		{name: "no namespace", old: ` xmlns="urn:oasis:names:tc:emergency:cap:1.2"`, new: "", path: "alert", kind: cap.ErrNamespace},
		{name: "a child in another namespace", old: "<source>", new: `<source xmlns="urn:x">`, path: "alert", kind: cap.ErrNamespace},
		{name: "another root", old: "<alert ", new: "<alarm ", kind: cap.ErrUnexpected},

		{name: "no identifier", old: "<identifier>ES-CV-2026-0412</identifier>", path: "alert", kind: cap.ErrMissing},
		{name: "no sender", old: "<sender>alertas@emergencias.cv.example</sender>", path: "alert", kind: cap.ErrMissing},
		{name: "no sent", old: "<sent>2026-10-14T06:30:00+02:00</sent>", path: "alert", kind: cap.ErrMissing},
		{name: "no status", old: "<status>Actual</status>", path: "alert", kind: cap.ErrMissing},
		{name: "no msgType", old: "<msgType>Alert</msgType>", path: "alert", kind: cap.ErrMissing},
		{name: "no scope", old: "<scope>Public</scope>", path: "alert", kind: cap.ErrMissing},
		{name: "no category", old: "<category>Met</category>\n    <category>Geo</category>\n    <event>Inundación", new: "<event>Inundación", path: "info[0]", kind: cap.ErrMissing},
		{name: "no event", old: "<event>River flood</event>", path: "info[1]", kind: cap.ErrMissing},
		{name: "no urgency", old: "<urgency>Expected</urgency>", path: "info[0]", kind: cap.ErrMissing},
		{name: "no severity", old: "<severity>Severe</severity>", path: "info[0]", kind: cap.ErrMissing},
		{name: "no certainty", old: "<certainty>Likely</certainty>", path: "info[0]", kind: cap.ErrMissing},
		{name: "no resourceDesc", old: "<resourceDesc>Mapa de la zona afectada</resourceDesc>", path: "info[0].resource[0]", kind: cap.ErrMissing},
		{name: "no mimeType", old: "<mimeType>image/png</mimeType>", path: "info[0].resource[0]", kind: cap.ErrMissing},
		{name: "no areaDesc", old: "<areaDesc>Aguas abajo de la presa de Tous</areaDesc>", path: "info[0].area[1]", kind: cap.ErrMissing},
		{name: "a geocode without value", old: "<value>ES523</value>", path: "info[0].area[0].geocode[0]", kind: cap.ErrMissing},
		{name: "a geocode without valueName", old: "<valueName>INE</valueName>", path: "info[0].area[0].geocode[1]", kind: cap.ErrMissing},
		{name: "a parameter without value", old: "<value>3; orange; Severe</value>", path: "info[0].parameter[0]", kind: cap.ErrMissing},
		{name: "an empty valueName", old: "<valueName>NUTS3</valueName>", new: "<valueName> </valueName>", path: "info[0].area[0].geocode[0].valueName", kind: cap.ErrValue},

		{name: "status", old: "<status>Actual</status>", new: "<status>Real</status>", path: "status", kind: cap.ErrValue},
		{name: "status with spaces", old: "<status>Actual</status>", new: "<status> Actual </status>", path: "status", kind: cap.ErrValue},
		{name: "msgType", old: "<msgType>Alert</msgType>", new: "<msgType>Warning</msgType>", path: "msgType", kind: cap.ErrValue},
		{name: "scope", old: "<scope>Public</scope>", new: "<scope>Everyone</scope>", path: "scope", kind: cap.ErrValue},
		{name: "category", old: "<category>Geo</category>", new: "<category>Flood</category>", path: "info[0].category[1]", kind: cap.ErrValue},
		{name: "responseType", old: "<responseType>Prepare</responseType>", new: "<responseType>Flee</responseType>", path: "info[0].responseType[1]", kind: cap.ErrValue},
		{name: "urgency", old: "<urgency>Expected</urgency>", new: "<urgency>Soon</urgency>", path: "info[0].urgency", kind: cap.ErrValue},
		{name: "severity", old: "<severity>Severe</severity>", new: "<severity>High</severity>", path: "info[0].severity", kind: cap.ErrValue},
		{name: "certainty", old: "<certainty>Likely</certainty>", new: "<certainty>Very Likely</certainty>", path: "info[0].certainty", kind: cap.ErrValue},

		{name: "Restricted without restriction", old: "<scope>Public</scope>", new: "<scope>Restricted</scope>", path: "restriction", kind: cap.ErrRule},
		{name: "Private without addresses", old: "<scope>Public</scope>", new: "<scope>Private</scope>", path: "addresses", kind: cap.ErrRule},
		{name: "Update without references", old: "<msgType>Alert</msgType>", new: "<msgType>Update</msgType>", path: "references", kind: cap.ErrRule},
		{name: "Cancel without references", doc: noRefs, old: "<msgType>", new: "<msgType>", path: "references", kind: cap.ErrRule},
		{name: "Ack without references", old: "<msgType>Alert</msgType>", new: "<msgType>Ack</msgType>", path: "references", kind: cap.ErrRule},
		{name: "Error without references", old: "<msgType>Alert</msgType>", new: "<msgType>Error</msgType>", path: "references", kind: cap.ErrRule},
		{name: "a reference without sent", doc: cancel, old: ",ES-CV-2026-0412,2026-10-14T06:30:00+02:00", new: ",ES-CV-2026-0412", path: "references", kind: cap.ErrValue},
		{name: "a reference with a comma too many", doc: cancel, old: ",ES-CV-2026-0412,", new: ",ES,CV-2026-0412,", path: "references", kind: cap.ErrValue},
		{name: "a reference with a Z", doc: cancel, old: "2026-10-14T06:30:00+02:00", new: "2026-10-14T04:30:00Z", path: "references", kind: cap.ErrValue},
		{name: "a reference to a later message", doc: cancel, old: "2026-10-14T06:30:00+02:00", new: "2026-10-16T06:30:00+02:00", path: "references", kind: cap.ErrRule},
		{name: "a reference to itself", doc: cancel, old: "ES-CV-2026-0412,2026-10-14T06:30:00+02:00", new: "ES-CV-2026-0420,2026-10-15T16:00:00-00:00", path: "references", kind: cap.ErrRule},
		{name: "empty references", doc: emptyRefs, old: "<references>", new: "<references>", path: "references", kind: cap.ErrValue},

		{name: "sent with Z", old: "<sent>2026-10-14T06:30:00+02:00</sent>", new: "<sent>2026-10-14T04:30:00Z</sent>", path: "sent", kind: cap.ErrValue},
		{name: "sent without zone", old: "<sent>2026-10-14T06:30:00+02:00</sent>", new: "<sent>2026-10-14T06:30:00</sent>", path: "sent", kind: cap.ErrValue},
		{name: "sent with fractional seconds", old: "<sent>2026-10-14T06:30:00+02:00</sent>", new: "<sent>2026-10-14T06:30:00.5+02:00</sent>", path: "sent", kind: cap.ErrValue},
		{name: "sent in UTC as +00:00", old: "<sent>2026-10-14T06:30:00+02:00</sent>", new: "<sent>2026-10-14T04:30:00+00:00</sent>", path: "sent", kind: cap.ErrValue},
		{name: "sent in month 13", old: "<sent>2026-10-14T06:30:00+02:00</sent>", new: "<sent>2026-13-14T06:30:00+02:00</sent>", path: "sent", kind: cap.ErrValue},
		{name: "sent with a zone past 14:00", old: "<sent>2026-10-14T06:30:00+02:00</sent>", new: "<sent>2026-10-14T06:30:00+15:00</sent>", path: "sent", kind: cap.ErrValue},
		{name: "onset as a date", old: "<onset>2026-10-14T12:00:00+02:00</onset>", new: "<onset>2026-10-14</onset>", path: "info[0].onset", kind: cap.ErrValue},
		{name: "expires before sent", old: "<expires>2026-10-15T06:30:00+02:00</expires>\n    <senderName>Valencian", new: "<expires>2026-10-14T06:00:00+02:00</expires>\n    <senderName>Valencian", path: "info[1].expires", kind: cap.ErrRule},
		{name: "expires when sent", old: "<expires>2026-10-15T06:30:00+02:00</expires>\n    <senderName>Valencian", new: "<expires>2026-10-14T04:30:00-00:00</expires>\n    <senderName>Valencian", path: "info[1].expires", kind: cap.ErrRule},
		{name: "expires before effective", old: "<effective>2026-10-14T06:30:00+02:00</effective>", new: "<effective>2026-10-15T08:00:00+02:00</effective>", path: "info[0].expires", kind: cap.ErrRule},

		{name: "identifier with a space", old: "<identifier>ES-CV-2026-0412</identifier>", new: "<identifier>ES CV 2026 0412</identifier>", path: "identifier", kind: cap.ErrValue},
		{name: "identifier with a comma", old: "<identifier>ES-CV-2026-0412</identifier>", new: "<identifier>ES,CV</identifier>", path: "identifier", kind: cap.ErrValue},
		{name: "identifier with <", old: "<identifier>ES-CV-2026-0412</identifier>", new: "<identifier>ES&lt;CV</identifier>", path: "identifier", kind: cap.ErrValue},
		{name: "identifier with &", old: "<identifier>ES-CV-2026-0412</identifier>", new: "<identifier>ES&amp;CV</identifier>", path: "identifier", kind: cap.ErrValue},
		{name: "an empty identifier", old: "<identifier>ES-CV-2026-0412</identifier>", new: "<identifier/>", path: "identifier", kind: cap.ErrValue},
		{name: "sender with a space", old: "<sender>alertas@emergencias.cv.example</sender>", new: "<sender>112 CV</sender>", path: "sender", kind: cap.ErrValue},

		{name: "a polygon of 3 pairs", old: "<circle>39.1386,-0.6483 8</circle>", new: "<polygon>39.1,-0.6 39.2,-0.6 39.1,-0.6</polygon>", path: "info[0].area[1].polygon[0]", kind: cap.ErrValue},
		{name: "a polygon not closed", old: "39.1700,-0.4500 39.2300,-0.5200</polygon>", new: "39.1700,-0.4500 39.2300,-0.5100</polygon>", path: "info[0].area[0].polygon[0]", kind: cap.ErrValue},
		{name: "a polygon crossing itself", old: "<circle>39.1386,-0.6483 8</circle>", new: "<polygon>" + bowtie + "</polygon>", path: "info[0].area[1].polygon[0]", kind: cap.ErrValue},
		{name: "a polygon's latitude past 90", old: "<circle>39.1386,-0.6483 8</circle>", new: "<polygon>91,0 0,1 1,1 91,0</polygon>", path: "info[0].area[1].polygon[0]", kind: cap.ErrValue},
		{name: "a polygon's longitude past 180", old: "<circle>39.1386,-0.6483 8</circle>", new: "<polygon>0,181 0,1 1,1 0,181</polygon>", path: "info[0].area[1].polygon[0]", kind: cap.ErrValue},
		{name: "a polygon with lon lat by a space", old: "<circle>39.1386,-0.6483 8</circle>", new: "<polygon>0 0 0 1 1 1 0 0</polygon>", path: "info[0].area[1].polygon[0]", kind: cap.ErrValue},
		{name: "a polygon with an exponent", old: "<circle>39.1386,-0.6483 8</circle>", new: "<polygon>0,0 0,1e0 1,1 0,0</polygon>", path: "info[0].area[1].polygon[0]", kind: cap.ErrValue},
		{name: "a polygon with NaN", old: "<circle>39.1386,-0.6483 8</circle>", new: "<polygon>0,0 0,NaN 1,1 0,0</polygon>", path: "info[0].area[1].polygon[0]", kind: cap.ErrValue},
		{name: "a second polygon crossing itself", old: "</polygon>\n      <geocode>\n        <valueName>NUTS3</valueName>\n        <value>ES523</value>\n      </geocode>\n    </area>", new: "</polygon>\n<polygon>" + bowtie + "</polygon>\n      <geocode>\n        <valueName>NUTS3</valueName>\n        <value>ES523</value>\n      </geocode>\n    </area>", path: "info[1].area[0].polygon[1]", kind: cap.ErrValue},
		{name: "a circle with a negative radius", old: "<circle>39.1386,-0.6483 8</circle>", new: "<circle>39.1386,-0.6483 -8</circle>", path: "info[0].area[1].circle[0]", kind: cap.ErrValue},
		{name: "a circle without radius", old: "<circle>39.1386,-0.6483 8</circle>", new: "<circle>39.1386,-0.6483</circle>", path: "info[0].area[1].circle[0]", kind: cap.ErrValue},
		{name: "a circle with its centre out of range", old: "<circle>39.1386,-0.6483 8</circle>", new: "<circle>-90.5,-0.6483 8</circle>", path: "info[0].area[1].circle[0]", kind: cap.ErrValue},
		{name: "a circle with a radius in miles", old: "<circle>39.1386,-0.6483 8</circle>", new: "<circle>39.1386,-0.6483 5mi</circle>", path: "info[0].area[1].circle[0]", kind: cap.ErrValue},
		{name: "a ceiling without altitude", old: "<circle>39.1386,-0.6483 8</circle>", new: "<circle>39.1386,-0.6483 8</circle><ceiling>1000</ceiling>", path: "info[0].area[1].ceiling", kind: cap.ErrRule},
		{name: "a ceiling below the altitude", old: "<circle>39.1386,-0.6483 8</circle>", new: "<circle>39.1386,-0.6483 8</circle><altitude>1000</altitude><ceiling>500</ceiling>", path: "info[0].area[1].ceiling", kind: cap.ErrRule},
		{name: "an altitude in words", old: "<circle>39.1386,-0.6483 8</circle>", new: "<circle>39.1386,-0.6483 8</circle><altitude>high</altitude>", path: "info[0].area[1].altitude", kind: cap.ErrValue},

		{name: "out of order", old: "<source>Centro de Coordinación de Emergencias</source>\n  <scope>Public</scope>", new: "<scope>Public</scope>\n  <source>Centro de Coordinación de Emergencias</source>", path: "alert", kind: cap.ErrUnexpected},
		{name: "language after category", old: "<language>es-ES</language>\n    <category>Met</category>", new: "<category>Met</category>\n    <language>es-ES</language>", path: "info[0]", kind: cap.ErrUnexpected},
		{name: "two statuses", old: "<status>Actual</status>", new: "<status>Actual</status><status>Test</status>", path: "alert", kind: cap.ErrUnexpected},
		{name: "two urgencies", old: "<urgency>Expected</urgency>", new: "<urgency>Expected</urgency><urgency>Future</urgency>", path: "info[0]", kind: cap.ErrUnexpected},
		{name: "an unknown element", old: "<contact>112</contact>", new: "<contact>112</contact><phone>112</phone>", path: "info[0]", kind: cap.ErrUnexpected},
		{name: "text among elements", old: "<contact>112</contact>", new: "<contact>112</contact>call", path: "info[0]", kind: cap.ErrUnexpected},
		{name: "an element in a text element", old: "<contact>112</contact>", new: "<contact><b>112</b></contact>", path: "info[0].contact", kind: cap.ErrUnexpected},
		{name: "an attribute", old: "<urgency>Expected</urgency>", new: `<urgency level="2">Expected</urgency>`, path: "info[0].urgency", kind: cap.ErrUnexpected},
		{name: "an element after the signature", old: "</alert>", new: `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/><info/></alert>`, path: "alert", kind: cap.ErrUnexpected},

		{name: "a language that is no tag", old: "<language>es-ES</language>", new: "<language>español de España</language>", path: "info[0].language", kind: cap.ErrValue},
		{name: "a relative web", old: "<web>https://alertas.emergencias.cv.example/avisos/ES-CV-2026-0412?lang=en</web>", new: "<web>/avisos/ES-CV-2026-0412?lang=en</web>", path: "info[1].web", kind: cap.ErrValue},
		{name: "a relative uri without derefUri", old: "<uri>https://alertas.emergencias.cv.example/mapas/ES-CV-2026-0412.png</uri>", new: "<uri>mapa.png</uri>", path: "info[0].resource[0].uri", kind: cap.ErrRule},
		{name: "a derefUri not base64", old: "</uri>", new: "</uri><derefUri>not base64!</derefUri>", path: "info[0].resource[0].derefUri", kind: cap.ErrValue},
		{name: "a negative size", old: "<size>48213</size>", new: "<size>-1</size>", path: "info[0].resource[0].size", kind: cap.ErrValue},
		{name: "a size in kilobytes", old: "<size>48213</size>", new: "<size>48 kB</size>", path: "info[0].resource[0].size", kind: cap.ErrValue},
		{name: "a mimeType without subtype", old: "<mimeType>image/png</mimeType>", new: "<mimeType>png</mimeType>", path: "info[0].resource[0].mimeType", kind: cap.ErrValue},
		{name: "incidents with an open quote", old: `"Júcar 2026-10"`, new: `"Júcar 2026-10`, path: "incidents", kind: cap.ErrValue},
		{name: "incidents with a quote inside", old: `"Júcar 2026-10" ES-CV-DANA-07`, new: `Júcar"2026`, path: "incidents", kind: cap.ErrValue},
		{name: "Private with empty addresses", old: "<scope>Public</scope>", new: "<scope>Private</scope><addresses> </addresses>", path: "addresses", kind: cap.ErrValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.doc
			if doc == "" {
				doc = flood
			}
			_, err := cap.Parse(edit(t, []byte(doc), tc.old, tc.new, 1))
			check(t, err, tc.path, tc.kind)
		})
	}
}

// check fails unless err holds a fault of kind at path.
func check(t *testing.T, err error, path string, kind error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v at %q", kind, path)
	}
	if !errors.Is(err, cap.ErrInvalid) {
		t.Errorf("got %v, not ErrInvalid", err)
	}
	for _, f := range faults(err) {
		if f.Path == path && f.Kind == kind {
			return
		}
	}
	t.Errorf("got %v, want %v at %q", err, kind, path)
}

func TestRefusalBounds(t *testing.T) {
	flood := read(t, "flood.xml")
	t.Run("larger than MaxSize", func(t *testing.T) {
		b := edit(t, flood, "<contact>112</contact>", "<contact>"+strings.Repeat("1", cap.MaxSize)+"</contact>", 1)
		_, err := cap.Parse(b)
		check(t, err, "", cap.ErrTooLarge)
	})
	t.Run("a long value is not echoed", func(t *testing.T) {
		long := strings.Repeat("A,", 100_000)
		_, err := cap.Parse(edit(t, flood, "<identifier>ES-CV-2026-0412</identifier>", "<identifier>"+long+"</identifier>", 1))
		check(t, err, "identifier", cap.ErrValue)
		if len(err.Error()) > 300 {
			t.Errorf("got a message of %d bytes, want at most 300", len(err.Error()))
		}
	})
	t.Run("more polygon points than MaxPoints", func(t *testing.T) {
		var ring strings.Builder
		for i := range cap.MaxPoints + 1 {
			fmt.Fprintf(&ring, "%.4f,0 ", float64(i)/1000)
		}
		ring.WriteString("0,0")
		_, err := cap.Parse(edit(t, flood, "<circle>39.1386,-0.6483 8</circle>", "<polygon>"+ring.String()+"</polygon>", 1))
		check(t, err, "info[0].area[1].polygon[0]", cap.ErrValue)
	})
	t.Run("more circles than MaxCircles", func(t *testing.T) {
		var circles strings.Builder
		for i := range cap.MaxCircles + 1 {
			fmt.Fprintf(&circles, "<circle>39.1386,-0.6483 %d</circle>", i+1)
		}
		_, err := cap.Parse(edit(t, flood, "<circle>39.1386,-0.6483 8</circle>", circles.String(), 1))
		check(t, err, fmt.Sprintf("info[0].area[1].circle[%d]", cap.MaxCircles), cap.ErrValue)
		// The same circle many times is one.
		if _, err := cap.Parse(edit(t, flood, "<circle>39.1386,-0.6483 8</circle>", strings.Repeat("<circle>39.1386,-0.6483 8</circle>", cap.MaxCircles+5), 1)); err != nil {
			t.Errorf("one circle repeated: %v", err)
		}
	})
	t.Run("a polygon repeated is counted once", func(t *testing.T) {
		var ring strings.Builder
		n := cap.MaxPoints * 3 / 5
		for i := range n {
			a := 2 * math.Pi * float64(i) / float64(n)
			fmt.Fprintf(&ring, "%.6f,%.6f ", 39.15+0.08*math.Sin(a), -0.43+0.1*math.Cos(a))
		}
		fmt.Fprintf(&ring, "%.6f,%.6f", 39.15, -0.33)
		b := regexp.MustCompile(`<polygon>[^<]*</polygon>`).ReplaceAll(flood, []byte("<polygon>"+ring.String()+"</polygon>"))
		a, err := cap.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(a.Info[1].Areas[0].Polygons[0]); got != n+1 {
			t.Errorf("got %d points, want %d", got, n+1)
		}
	})
	t.Run("faults past twenty", func(t *testing.T) {
		b := flood
		for _, c := range []string{"Met", "Geo"} {
			b = edit(t, b, "<category>"+c+"</category>", "<category>Bad</category>", -1)
		}
		b = edit(t, b, "<responseType>Avoid</responseType>", strings.Repeat("<responseType>Bad</responseType>", 30), -1)
		_, err := cap.Parse(b)
		if n := len(faults(err)); n != 21 {
			t.Errorf("got %d faults, want 20 and one saying there are more", n)
		}
	})
}

// TestAccepted: forms the standard allows that the flood warning does not
// use.
func TestAccepted(t *testing.T) {
	flood := string(read(t, "flood.xml"))
	for _, tc := range []struct {
		name     string
		old, new string
	}{
		{"a schema location", "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">", `<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:oasis:names:tc:emergency:cap:1.2 CAP-v1.2.xsd">`},
		{"a signature after the infos", "</alert>", `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/></Signature></alert>`},
		{"UTC as -00:00 with spaces around", "<sent>2026-10-14T06:30:00+02:00</sent>", "<sent> 2026-10-14T04:30:00-00:00\n</sent>"},
		{"a relative uri naming derefUri", "<uri>https://alertas.emergencias.cv.example/mapas/ES-CV-2026-0412.png</uri>", "<uri>mapa.png</uri><derefUri>iVBORw0K\nGgo=</derefUri>"},
		{"a Restricted alert with its restriction", "<scope>Public</scope>", "<scope>Restricted</scope><restriction>Solo servicios de emergencia</restriction>"},
		{"a Private alert with quoted addresses", "<scope>Public</scope>", `<scope>Private</scope><addresses>"Ayuntamiento de Alzira" policia@alzira.example</addresses>`},
		{"a radius of zero", "<circle>39.1386,-0.6483 8</circle>", "<circle>39.1386,-0.6483 0</circle>"},
		{"an altitude and a ceiling", "<circle>39.1386,-0.6483 8</circle>", "<circle>39.1386,-0.6483 8</circle><altitude>0</altitude><ceiling>1500.5</ceiling>"},
		{"a repeated consecutive point", "39.1700,-0.4500 39.2300,-0.5200<", "39.1700,-0.4500 39.1700,-0.4500 39.2300,-0.5200<"},
		{"comments and CDATA", "<contact>112</contact>", "<contact><!-- c --><![CDATA[1]]>12</contact>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := edit(t, []byte(flood), tc.old, tc.new, 1)
			if _, err := cap.Parse(b); err != nil {
				t.Errorf("got %v, want no error", err)
			}
		})
	}
}

// TestPrefixed: the alert's elements may carry a prefix bound to the CAP
// namespace rather than be in the default one.
func TestPrefixed(t *testing.T) {
	b := regexp.MustCompile(`<(/?)([a-zA-Z])`).ReplaceAll(read(t, "flood.xml"), []byte("<${1}cap:${2}"))
	b = edit(t, b, `xmlns="`, `xmlns:cap="`, 1)
	a, err := cap.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Ref().String(), parse(t, "flood.xml").Ref().String(); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
