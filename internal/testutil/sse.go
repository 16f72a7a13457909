package testutil

import (
	"bufio"
	"io"
	"strings"
)

// Event is one Server-Sent Event as a client reads it.
type Event struct {
	ID, Type, Data string
}

// Events reads the Server-Sent Events of r (HTML Living Standard,
// §9.2.6: fields id, event and data, data lines joined by newlines, an
// empty line dispatching) until it ends, then closes the channel and r.
// Comments and events without data are not delivered.
func Events(r io.ReadCloser) <-chan Event {
	ch := make(chan Event, 64)
	go func() {
		defer close(ch)
		defer r.Close()
		sc := bufio.NewScanner(r)
		var ev Event
		var data []string
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if len(data) > 0 {
					ev.Data = strings.Join(data, "\n")
					ch <- ev
				}
				ev, data = Event{}, nil
				continue
			}
			if strings.HasPrefix(line, ":") {
				continue
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Type = value
			case "data":
				data = append(data, value)
			}
		}
	}()
	return ch
}
