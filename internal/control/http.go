package control

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/runtime"
)

// MaxUpdateBytes bounds the body of a pushed update.
const MaxUpdateBytes = 1 << 20

// Handler serves POST /api/neuron/update-config: the federation pushes an
// update with the bearer token it issued to this neuron at registration.
// token returns that token, "" while the neuron is not registered (then
// every push is refused). Answers: 200 {"success": true, "data": Result};
// 401 for a missing or wrong bearer; 400 for a body that is not an update;
// 413 for a body over MaxUpdateBytes; 422 for an update refused whole, with
// every reason.
func (c *Controller) Handler(token func() string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			runtime.WriteError(w, http.StatusMethodNotAllowed, runtime.CodeMethodNotAllowed, "use POST")
			return
		}
		want := token()
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case want == "":
			runtime.WriteError(w, http.StatusUnauthorized, "unauthorized", "this neuron is not registered with a federation (it runs standalone, or its registration is pending); it accepts no update until it is")
			return
		case !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1:
			runtime.WriteError(w, http.StatusUnauthorized, "unauthorized", "send Authorization: Bearer with the token the federation issued to this neuron at registration")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxUpdateBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				runtime.WriteError(w, http.StatusRequestEntityTooLarge, runtime.CodeBodyTooLarge, "an update is at most 1 MiB")
				return
			}
			runtime.WriteError(w, http.StatusBadRequest, runtime.CodeBadRequest, "read body: "+err.Error())
			return
		}
		u, err := federation.ParseUpdate(body)
		if err != nil {
			runtime.WriteError(w, http.StatusBadRequest, runtime.CodeBadRequest, err.Error())
			return
		}
		res, err := c.Apply(r.Context(), u, "push")
		var rejected *RejectedError
		if errors.As(err, &rejected) {
			reasons := make([]string, len(rejected.Reasons))
			for i, e := range rejected.Reasons {
				reasons[i] = e.Error()
			}
			respond(w, http.StatusUnprocessableEntity, map[string]any{
				"error": rejected.Error(), "code": "update_rejected", "reasons": reasons, "configVersion": res.ConfigVersion})
			return
		}
		respond(w, http.StatusOK, map[string]any{"success": true, "data": res})
	})
}

func respond(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
