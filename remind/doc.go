// Package remind is the reminders' pure logic: message templates, the
// reminder plan, reading a day's list from CSV, and matching a patient's
// reply. It holds no state and does no I/O; the daemon stores and sends,
// the web and the command line show. Everything here is decided by the
// arguments, so the same input gives the same answer in a preview and in a
// commit.
//
// # Templates
//
// A template is text with placeholders in braces ({name}, {date}, {time},
// {provider}, {location}, {clinic}, {phone}; see Placeholders). "{{" and "}}"
// are literal braces; any other brace that does not make a known
// placeholder is an error, as a lone brace in Go's or Python's format
// strings is, so that a typo ({nmae}) is caught when the template is saved
// rather than sent to a patient. Render and Check share one parser: a body
// Check passes always renders.
//
// Check refuses a template that asks the patient to text an opt-out word
// for anything but opting out. The FCC's consent-revocation rule (47 CFR
// 64.1200(a)(10), 2025) makes STOP, QUIT, END, REVOKE, OPT OUT, CANCEL and
// UNSUBSCRIBE revoke consent, and dispatch opts such a sender out at once;
// "Reply CANCEL to cancel your visit" would opt out the patient who only
// meant to cancel. The rule Check applies:
//
//   - A word is asked for when it follows a reply verb ("reply", "text",
//     "send", "responda", ..., with "with the word" allowed between), is
//     written in capitals in a text that is not all capitals, is in quotes,
//     or is listed after a comma or "or" with its own "to ..." in a sentence
//     that has a reply verb ("Reply C to confirm, cancel to cancel").
//     Besides the opt-out words, CANCELAR, PARAR, ALTO, BAJA and DETENER
//     count, as a Spanish speaker may fairly mean them as "stop".
//   - An asked word is fine when its purpose, the "to ..." / "para ..."
//     after it or opening its sentence, is opting out of messages: "Reply
//     STOP to opt out", "Text QUIT to stop receiving texts", "Responda STOP
//     para no recibir mensajes".
//   - Without a purpose, only the words whose plain meaning is "no more
//     messages" are fine (STOP, STOPALL, UNSUBSCRIBE, REVOKE, OPT OUT, BAJA);
//     "Reply CANCEL." is refused.
//   - Any other purpose is refused, including "Reply STOP to cancel": the
//     carriers' old wording, but in a reminder "cancel" reads as cancelling
//     the visit, and STOP does not do that.
//
// Clinical words (a diagnosis, a test, a drug: DefaultClinicalWords, or the
// configuration's clinical_words) are a warning, not an error: the minimum
// necessary standard asks staff to think, not the software to forbid.
//
// The worst case Check reports fills every placeholder at its longest
// allowed value (MaxNameLen, ...) with {name}, {provider} and {location} in
// a letter outside GSM-7, which turns the whole text into UCS-2. The fill
// uses one UTF-16 unit per character (names in the Basic Multilingual
// Plane); an emoji in a name costs one unit more, so such a name can exceed
// the worst case, and the send path's own length check is what stops it.
//
// # Reminder plan
//
// Plan places each reminder of the clinic's plan (config reminder_plan,
// default 48h and 2h) before an appointment. Whole days count on the wall
// clock: the 48-hour reminder of a 10:00 visit goes out at 10:00 two days
// before even when a DST change lies between (47 or 49 real hours); the
// rest counts as elapsed time. The reminder window (config reminder_hours,
// "08:00-21:00", ParseHours) is on the clinic's wall clock: a reminder due
// outside it moves to the next 08:00 local. A time in a DST gap moves later
// by the gap; a time in the repeated hour takes the first one. A reminder
// is never sent after the appointment: it is skipped when the window would
// move it closer than MinLead (15 minutes) to the visit, when its time
// (after the move) has passed by the time the appointment is planned, and
// when it would go out at the same moment as an earlier one. Each skipped
// slot carries a sentence saying why, for the appointment page.
//
// # A day's list from CSV
//
// ReadCSV takes the bytes of an export as practice systems and Excel write
// them (encodings, delimiters, line ends: see ReadCSV) and refuses a file
// over MaxImportBytes or one that is not text, naming the line. Columns
// finds each field by its header (case, accents and punctuation ignored;
// common synonyms in English and Spanish) or by a saved Mapping. ParseRows
// turns each record into a Row with every problem named; it never drops a
// row, so the preview shows each line of the file and why it is bad.
//
// Numeric dates follow the clinic's region: month first (12/03/2026 is
// December 3) in the US and the regions that write dates so, day first
// elsewhere; a date that does not exist in that order (13/03/2026 in the
// US) is bad_date, never read the other way round, because guessing per row
// would move some visits by months without a word. Numbers are normalised
// by the queue's rule with the configured default region, and a number
// without its area code is refused. A row that repeats an earlier row's
// number and time is duplicate_row; the store adds opted_out and duplicate
// (of an appointment already stored).
//
// # Replies
//
// MatchAnswer matches a whole reply, not a word inside a sentence: "C",
// " Confirm! ", "Sí" and "si." confirm, "R" and "reschedule" ask for a new
// time, "yes please" is left to staff. Opt-out words never count as an
// answer.
package remind
