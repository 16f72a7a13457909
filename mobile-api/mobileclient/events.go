package mobileclient

import (
	"bufio"
	"io"
	"strings"
)

// Event is one Server-Sent Event of a stream such as GET /inbox/events.
type Event struct {
	ID, Type, Data string
}

// Events reads the Server-Sent Events of r (HTML Living Standard,
// "Server-sent events", event stream interpretation: fields id, event and
// data, data lines joined with newlines, an empty line dispatching) until
// it ends, then closes the channel and r. Comments, and fields after the
// last empty line, are not delivered. The caller reads the channel to its
// end, or closes r to stop early.
func Events(r io.ReadCloser) <-chan Event {
	ch := make(chan Event, 16)
	go func() {
		defer close(ch)
		defer r.Close()
		br := bufio.NewReaderSize(r, 4<<10)
		var ev Event
		var data []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
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
