//! Line reading shared by the parsers: bounded length, UTF-8 checked, 1-based line numbers.
//!
//! A history file is untrusted input, so a missing newline must not make us buffer the whole
//! file as one line: lines longer than [`MAX_LINE_BYTES`] are an error, not an allocation.

use std::io::{BufRead, Read};

use super::CheckError;

/// The longest line (without its newline) any history parser accepts.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Calls `on_line(line_number, text)` for every line of `reader`, with the newline (and a
/// `\r` before it) removed, stopping at the first error from reading or from `on_line`.
pub(crate) fn for_each_line<R, F>(reader: R, mut on_line: F) -> Result<(), CheckError>
where
    R: BufRead,
    F: FnMut(usize, &str) -> Result<(), CheckError>,
{
    let mut reader = reader;
    let mut buf = Vec::new();
    let mut line_number = 0;
    loop {
        buf.clear();
        // One byte more than a maximal line plus its newline tells "too long" from "just fits".
        let limit = (MAX_LINE_BYTES + 2) as u64;
        let read = (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut buf)
            .map_err(|source| CheckError::Read {
                line: line_number,
                source,
            })?;
        if read == 0 {
            return Ok(());
        }
        line_number += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        if buf.len() > MAX_LINE_BYTES {
            return Err(CheckError::Parse {
                line: line_number,
                reason: format!("line is longer than {MAX_LINE_BYTES} bytes"),
            });
        }
        let text = std::str::from_utf8(&buf).map_err(|err| CheckError::Parse {
            line: line_number,
            reason: format!("not UTF-8: {err}"),
        })?;
        on_line(line_number, text)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8]) -> Result<Vec<(usize, String)>, CheckError> {
        let mut lines = Vec::new();
        for_each_line(input, |n, text| {
            lines.push((n, text.to_string()));
            Ok(())
        })?;
        Ok(lines)
    }

    #[test]
    fn lines_are_numbered_from_one_without_newlines() -> Result<(), CheckError> {
        let lines = collect(b"a\r\nb\n\nlast")?;
        let expected = [(1, "a"), (2, "b"), (3, ""), (4, "last")];
        let expected: Vec<_> = expected.iter().map(|(n, s)| (*n, s.to_string())).collect();
        assert_eq!(lines, expected);
        Ok(())
    }

    #[test]
    fn overlong_line_is_an_error_naming_its_line() {
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 1));
        input.extend(b"\nafter\n");
        match collect(&input) {
            Err(CheckError::Parse { line, reason }) => {
                assert_eq!(line, 2);
                assert!(reason.contains("longer"), "{reason}");
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn line_of_exactly_the_maximum_length_is_accepted() -> Result<(), CheckError> {
        let mut input = vec![b'y'; MAX_LINE_BYTES];
        input.extend(b"\r\n");
        let lines = collect(&input)?;
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].1.len(), MAX_LINE_BYTES);
        Ok(())
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_panic() {
        let result = collect(b"fine\n\xff\xfe\n");
        assert!(matches!(result, Err(CheckError::Parse { line: 2, .. })));
    }
}
