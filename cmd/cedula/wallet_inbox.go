package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/cedula/cedula/mobile-api/mobileclient"
)

func newWalletInboxCmd(wf *walletFlags) *cobra.Command {
	var unread, follow, read bool
	cmd := &cobra.Command{
		Use:   "inbox",
		Short: "Show the wallet's messages, and with --follow the new ones as they come",
		Long: `Show the messages in the citizen's inbox, newest first: credentials received,
suspended, reinstated, revoked or about to expire, consents awaiting
renewal. --unread shows the unread ones only; --read marks those shown read.
--follow then waits for new messages on the inbox's event stream
(Server-Sent Events) and prints each as it comes, until interrupted; a
broken stream is resumed from the last message seen, so none is missed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, c, err := wf.load()
			if err != nil {
				return err
			}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			r, err := c.ListInboxWithResponse(ctx, &mobileclient.ListInboxParams{Unread: &unread})
			if err != nil {
				return err
			}
			if err := answer(r.StatusCode(), r.Body, http.StatusOK); err != nil {
				return err
			}
			last := ""
			for i, m := range r.JSON200.Items {
				if i == 0 {
					last = m.EventId
				}
				printMessage(out, m)
				if read && m.ReadAt == nil {
					if rr, err := c.ReadInboxMessageWithResponse(ctx, m.Id, nil); err != nil {
						return err
					} else if err := answer(rr.StatusCode(), rr.Body, http.StatusOK); err != nil {
						return err
					}
				}
			}
			if len(r.JSON200.Items) == 0 {
				fmt.Fprintln(out, "no messages")
			}
			for follow {
				if last, err = followInbox(cmd, wf, last); err != nil {
					if ctx.Err() != nil {
						return nil // interrupted: the way --follow ends
					}
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&unread, "unread", false, "show the unread messages only")
	cmd.Flags().BoolVar(&read, "read", false, "mark the messages shown read")
	cmd.Flags().BoolVar(&follow, "follow", false, "then print new messages as they come, until interrupted")
	return cmd
}

// followInbox prints the stream's messages after last until the stream
// ends (the token expired, the server went away) and returns the last
// event ID seen; the caller resumes from it.
func followInbox(cmd *cobra.Command, wf *walletFlags, last string) (string, error) {
	_, c, err := wf.load()
	if err != nil {
		return last, err
	}
	p := &mobileclient.StreamInboxParams{}
	if last != "" {
		p.LastEventID = &last
	}
	res, err := c.StreamInbox(cmd.Context(), p)
	if err != nil {
		if cmd.Context().Err() != nil {
			return last, cmd.Context().Err()
		}
		time.Sleep(3 * time.Second) // the stream's retry, as an EventSource waits
		return last, nil
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
		res.Body.Close()
		return last, answer(res.StatusCode, b, http.StatusOK)
	}
	for ev := range mobileclient.Events(res.Body) {
		var m mobileclient.InboxMessage
		if json.Unmarshal([]byte(ev.Data), &m) != nil {
			continue
		}
		printMessage(cmd.OutOrStdout(), m)
		last = ev.ID
	}
	return last, cmd.Context().Err()
}

func printMessage(w io.Writer, m mobileclient.InboxMessage) {
	state := "new"
	switch {
	case m.AckedAt != nil:
		state = "done"
	case m.ReadAt != nil:
		state = "read"
	}
	fmt.Fprintf(w, "%s  %s  %s [%s]\n", m.CreatedAt.Local().Format("2006-01-02 15:04"), m.Kind, m.Title, state)
	if m.Body != nil {
		fmt.Fprintf(w, "    %s\n", *m.Body)
	}
}
