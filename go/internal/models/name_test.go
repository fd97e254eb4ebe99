package models

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestDisplayName(t *testing.T) {
	tests := []struct {
		id, want string
	}{
		// Asserted by the original's tests.
		{"glm-5", "GLM 5"},
		{"gpt-4o-mini", "GPT 4o Mini"},
		{"qwen2-72b-instruct", "Qwen2 72B Instruct"},
		{"legacy-model", "Legacy Model"},
		// From the original's docs and from running its code (§C.3).
		{"kimi-k2.6", "Kimi K2.6"},
		// The original gives "Meta Llama Llama 3.1 8B Instruct"; rule 4 says
		// the organisation's repeated word once.
		{"meta-llama/Llama-3.1-8B-Instruct", "Meta Llama 3.1 8B Instruct"},
		{"claude-3-5-sonnet-20241022", "Claude 3 5 Sonnet 20241022"},
		{"o1-mini", "O1 Mini"},
		{"deepseek-r1:14b", "Deepseek R1 14B"},
		{"llama3.1:70b", "Llama3.1 70B"},
		{"mistral-7b-instruct-v0.3", "Mistral 7B Instruct V0.3"},
		{"tts-1-hd", "TTS 1 Hd"},
		{"nlp_api-cpu", "NLP API CPU"},
		{"sd-xl-1.0", "Sd Xl 1.0"},
		{"---", "---"},
		{"x", "X"},
		// One rule at a time.
		{"AI", "AI"}, {"Api", "API"}, {"gPu", "GPU"}, {"stt", "STT"}, // acronyms
		{"2024", "2024"},                           // digits
		{"70b", "70B"}, {"7B", "7B"}, {"1t", "1T"}, // size suffixes
		{"8k", "8K"}, {"3m", "3M"}, {"2g", "2G"},
		{"4O", "4o"}, {"2x", "2x"}, // other single suffix letters
		{"GPT4o", "Gpt4o"}, {"qwen2", "Qwen2"}, {"QWEN2VL", "Qwen2vl"}, // letters then digits
		{"4turbo", "4turbo"}, {"128kb", "128kb"}, {"4TURBO", "4turbo"}, // digits then letters
		{"instruct", "Instruct"}, {"INSTRUCT", "Instruct"}, {"k2.6", "K2.6"}, {"v0.3", "V0.3"},
		{"70b-a3b", "70B A3b"},
		// Separators, trimming and dates.
		{"a//b::c__d--e", "A B C D E"},
		{"  gpt  ", "GPT"},
		{"gpt - 4o", "GPT 4o"},
		{"Llama 3", "Llama 3"}, // a space is not a separator
		{"2024-08-06", "2024 08 06"},
		{"gpt-4o-2024-08-06", "GPT 4o 2024 08 06"},
		{"models/gemini-1.5-pro", "Models Gemini 1.5 Pro"},
		// Organisation prefixes (rule 4): repeated words are said once.
		{"meta-llama/Meta-Llama-3-8B", "Meta Llama 3 8B"},
		{"Qwen/Qwen2.5-72B-Instruct", "Qwen2.5 72B Instruct"},
		{"mistralai/Mistral-7B-Instruct-v0.3", "Mistral 7B Instruct V0.3"},
		{"deepseek-ai/DeepSeek-R1", "Deepseek R1"},
		{"llama/llama", "Llama"},
		{"openai/gpt-4o", "Openai GPT 4o"}, // nothing repeated: both kept
		{"nvidia/Llama-3.1-Nemotron-70B", "Nvidia Llama 3.1 Nemotron 70B"},
		{"ai/ai-x", "AI AI X"}, // words under three letters are not taken for a repeat
		{"meta-llama/", "Meta Llama"},
		{"/Llama-3", "Llama 3"},
		{"accounts/fireworks/models/llama-v3p1-70b-instruct", "Accounts Fireworks Models Llama V3p1 70B Instruct"},
		{"hf.co/bartowski/Qwen2.5-7B-GGUF:Q4_K_M", "Hf.co Bartowski Qwen2.5 7B Gguf Q4 K M"},
		{"", ""},
		{"   ", "   "},
		{"- _ /", "- _ /"},
		{"\u00a0gpt\ufeff", "GPT"}, // JavaScript's trim set
		// Outside ASCII (Go's simple case mapping).
		{"élan-ÉCOLE", "Élan École"},
		{"模型-v2", "模型 V2"},
		{"𐐨x-y", "𐐨x Y"}, // a first character outside the BMP is kept, as with charAt(0)
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			assert.Equal(t, tt.want, DisplayName(tt.id, nil))
			if isASCII(tt.id) {
				assert.Equal(t, tt.want, referenceDisplayName(tt.id), "reference implementation")
			}
		})
	}
}

func TestDisplayNameOverrides(t *testing.T) {
	overrides := map[string]string{
		"glm-5":        "GLM 5",
		"legacy-model": "Legacy Model (Renamed)",
		"empty":        "",
		"gpt-4o":       "  My GPT  ",
	}
	assert.Equal(t, "GLM 5", DisplayName("glm-5", overrides))
	assert.Equal(t, "Legacy Model (Renamed)", DisplayName("legacy-model", overrides))
	assert.Equal(t, "Empty", DisplayName("empty", overrides), "an empty override is ignored")
	assert.Equal(t, "  My GPT  ", DisplayName("gpt-4o", overrides), "overrides are verbatim")
	assert.Equal(t, "GPT 4o Mini", DisplayName("gpt-4o-mini", overrides))

	ms := []Model{{ID: "legacy-model"}, {ID: "qwen2-72b-instruct"}}
	Normalize(ms, overrides)
	assert.Equal(t, "Legacy Model (Renamed)", ms[0].Name)
	assert.Equal(t, "Qwen2 72B Instruct", ms[1].Name)
}

func FuzzDisplayName(f *testing.F) {
	for _, s := range []string{"glm-5", "gpt-4o-mini", "qwen2-72b-instruct", "meta-llama/Llama-3.1-8B-Instruct", "deepseek-r1:14b", "---", "", " x "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		got := DisplayName(id, nil)
		if got != DisplayName(id, nil) {
			t.Fatalf("not deterministic for %q", id)
		}
		if (got == "") != (id == "") {
			t.Fatalf("DisplayName(%q) = %q: empty iff the id is", id, got)
		}
		if got != id && strings.ContainsAny(got, "-_/:") {
			t.Fatalf("DisplayName(%q) = %q still holds a separator", id, got)
		}
		if got != id && strings.TrimFunc(got, isJSSpace) != got {
			t.Fatalf("DisplayName(%q) = %q has white space at an end", id, got)
		}
		if !utf8.ValidString(got) && utf8.ValidString(id) {
			t.Fatalf("DisplayName(%q) = %q is not valid UTF-8", id, got)
		}
		if isASCII(id) {
			if want := referenceDisplayName(id); got != want {
				t.Fatalf("DisplayName(%q) = %q, reference gives %q", id, got, want)
			}
		}
		if DisplayName(id, map[string]string{id: "override"}) != "override" {
			t.Fatalf("override ignored for %q", id)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// referenceDisplayName restates the original's rules literally, regular
// expressions included, for ASCII ids. It is the oracle of the fast
// implementation.
var (
	refSplit       = regexp.MustCompile(`[-_/:]+`)
	refDigits      = regexp.MustCompile(`^\d+$`)
	refSizeSuffix  = regexp.MustCompile(`(?i)^(\d+)([a-z])$`)
	refAlphaDigits = regexp.MustCompile(`(?i)^[a-z]+\d+[a-z0-9]*$`)
	refDigitsAlpha = regexp.MustCompile(`(?i)^(\d+)([a-z]+)$`)
	refAcronyms    = map[string]string{"ai": "AI", "api": "API", "cpu": "CPU", "gpu": "GPU", "glm": "GLM", "gpt": "GPT", "llm": "LLM", "nlp": "NLP", "ocr": "OCR", "tts": "TTS", "stt": "STT"}
)

func referenceDisplayName(id string) string {
	name := refPlain(id)
	if name == "" {
		return id
	}
	// Rule 4: an organisation prefix the model repeats is said once.
	if i := strings.LastIndex(id, "/"); i > 0 {
		org, model := refPlain(id[:i]), refPlain(id[i+1:])
		if org != "" && model != "" {
			first := strings.SplitN(model, " ", 2)[0]
			orgWords := strings.Split(org, " ")
			for j, w := range orgWords {
				a, b := strings.ToLower(w), strings.ToLower(first)
				if len(a) > len(b) {
					a, b = b, a
				}
				if len(a) >= 3 && strings.HasPrefix(b, a) {
					return strings.TrimSpace(strings.Join(orgWords[:j], " ") + " " + model)
				}
			}
		}
	}
	return name
}

// refPlain is rules 2 and 3: the words joined, or "" when there are none.
func refPlain(id string) string {
	var words []string
	for _, p := range refSplit.Split(id, -1) {
		if p = strings.Trim(p, " \t\n\v\f\r"); p != "" {
			words = append(words, p)
		}
	}
	if len(words) == 0 {
		return ""
	}
	return refWords(words)
}

func refWords(words []string) string {
	for i, w := range words {
		title := strings.ToUpper(w[:1]) + strings.ToLower(w[1:])
		switch {
		case refAcronyms[strings.ToLower(w)] != "":
			words[i] = refAcronyms[strings.ToLower(w)]
		case refDigits.MatchString(w):
		case refSizeSuffix.MatchString(w):
			m := refSizeSuffix.FindStringSubmatch(w)
			if strings.ContainsAny(strings.ToLower(m[2]), "bkmgt") {
				words[i] = m[1] + strings.ToUpper(m[2])
			} else {
				words[i] = m[1] + strings.ToLower(m[2])
			}
		case refAlphaDigits.MatchString(w):
			words[i] = title
		case refDigitsAlpha.MatchString(w):
			m := refDigitsAlpha.FindStringSubmatch(w)
			words[i] = m[1] + strings.ToLower(m[2])
		default:
			words[i] = title
		}
	}
	return strings.Join(words, " ")
}
