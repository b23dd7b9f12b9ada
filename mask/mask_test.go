package mask

import "testing"

func TestNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+15551234567", "+1******4567"},
		{"+447700900123", "+4*******0123"},
		{"0612345678", "0*****5678"},
		{"12345", "*****"},
		{"+123", "+***"},
		{"", ""},
		{"CLINIC", "******"},
		{" +15551234567 ", "+1******4567"},
	}
	for _, tt := range tests {
		if got := Number(tt.in); got != tt.want {
			t.Errorf("Number(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSerial(t *testing.T) {
	tests := []struct{ in, want string }{
		{"490154203237518", "***********7518"},
		{"1234", "****"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Serial(tt.in); got != tt.want {
			t.Errorf("Serial(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
