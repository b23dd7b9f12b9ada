// Package packaging holds the .deb build (build-deb.sh) and its checks
// (test.sh). This test keeps the shipped /etc/smsd/smsd.toml honest against
// the real config package: it parses, and the defaults it shows in comments
// are the defaults the daemon uses.
package packaging

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/clinicsms/smsd/config"
)

// commented matches a commented-out setting line ("# key = value") or the
// [[modems]] table header.
var commented = regexp.MustCompile(`^# ([a-z_]+ = .*|\[\[modems\]\])$`)

// uncomment removes the "# " of every commented setting; with modems false it
// stops at the [[modems]] example, which is an example, not a default.
func uncomment(text string, modems bool) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if commented.MatchString(l) {
			if l == "# [[modems]]" && !modems {
				break
			}
			l = strings.TrimPrefix(l, "# ")
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

func TestConffile(t *testing.T) {
	raw, err := os.ReadFile("smsd.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)

	t.Run("as_shipped_gives_defaults", func(t *testing.T) {
		c := config.Default()
		if err := config.Parse(&c, raw); err != nil {
			t.Fatalf("shipped smsd.toml does not parse: %v", err)
		}
		if want := config.Default(); !reflect.DeepEqual(c, want) {
			t.Errorf("shipped smsd.toml changes settings:\n got %+v\nwant %+v", c, want)
		}
	})

	t.Run("commented_values_are_the_defaults", func(t *testing.T) {
		u := uncomment(text, false)
		if n := strings.Count(u, "\n") - strings.Count(uncomment("", false), "\n"); n == 0 {
			t.Fatal("nothing to uncomment")
		}
		c := config.Default()
		if err := config.Parse(&c, []byte(u)); err != nil {
			t.Fatalf("smsd.toml with every setting uncommented does not parse: %v", err)
		}
		want := config.Default()
		if err := want.Validate(); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("a commented value is not the daemon's default:\n got %+v\nwant %+v", c, want)
		}
	})

	t.Run("every_setting_is_documented", func(t *testing.T) {
		typ := reflect.TypeOf(config.Config{})
		for i := 0; i < typ.NumField(); i++ {
			key := typ.Field(i).Tag.Get("toml")
			if key == "" || key == "modems" {
				continue
			}
			if !regexp.MustCompile(`(?m)^# ` + key + ` = `).MatchString(text) {
				t.Errorf("setting %s is missing from smsd.toml (add it commented, with its default)", key)
			}
		}
		if !strings.Contains(text, "# [[modems]]") {
			t.Error("the [[modems]] example is missing")
		}
	})

	t.Run("modems_example_parses", func(t *testing.T) {
		c := config.Default()
		if err := config.Parse(&c, []byte(uncomment(text, true))); err != nil {
			t.Fatalf("smsd.toml with the [[modems]] example uncommented does not parse: %v", err)
		}
		if len(c.Modems) != 1 || c.Modems[0].ID != "modem1" {
			t.Errorf("modems example gave %+v", c.Modems)
		}
	})
}
