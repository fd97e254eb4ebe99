package models_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/models"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

func ExampleDisplayName() {
	overrides := map[string]string{"legacy-model": "Legacy Model (Renamed)"}
	for _, id := range []string{"glm-5", "gpt-4o-mini", "qwen2-72b-instruct", "deepseek-r1:14b", "legacy-model"} {
		fmt.Println(models.DisplayName(id, overrides))
	}
	// Output:
	// GLM 5
	// GPT 4o Mini
	// Qwen2 72B Instruct
	// Deepseek R1 14B
	// Legacy Model (Renamed)
}

// One sync of a provider, as a scheduler would run it: fetch with the
// bearer, name the models, keep them as the last good list, and merge them
// into the user's provider.<id>.models.
func Example_sync() {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"glm-5","context_length":200000},{"id":"kimi-k2.6"}]}`))
	}))
	defer gw.Close()

	endpoint, err := models.URL(gw.URL+"/v1", "")
	if err != nil {
		panic(err)
	}
	catalog := models.NewCatalog(nil) // or the list from the disk cache
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	list, err := models.Fetcher{}.Fetch(ctx, endpoint, "Authorization", secret.New("Bearer t0ken"))
	if err != nil {
		panic(err) // a real sync logs it and keeps catalog as it is
	}
	models.Normalize(list.Models, nil)
	changes, err := catalog.Update(list.Models)
	if err != nil {
		panic(err)
	}
	fmt.Println("added:", changes.Added)

	user := map[string]any{"kimi-k2.6": map[string]any{"name": "Kimi (mine)"}}
	out, _ := json.Marshal(models.Merge(user, catalog.Models()))
	fmt.Println(string(out))
	// Output:
	// added: [glm-5 kimi-k2.6]
	// {"glm-5":{"limit":{"context":200000,"output":0},"name":"GLM 5"},"kimi-k2.6":{"name":"Kimi (mine)"}}
}
