//! The lexer: template text into tokens, with Go's delimiter, trim-marker and comment rules.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Identifier(String),
    Keyword(Keyword),
    /// `.Name`: one link of a field chain.
    Field(String),
    /// `$name`, or `$` alone.
    Variable(String),
    Dot,
    Nil,
    Bool(bool),
    /// The literal's text; parsed by the parser, which knows Go's number rules.
    Number(String),
    /// A string or raw string literal, unquoted, with its original text for printing.
    Str {
        value: String,
        quoted: String,
    },
    Char {
        value: char,
        quoted: String,
    },
    Pipe,
    LeftParen,
    RightParen,
    Declare,
    Assign,
    Comma,
    /// Any other printable ASCII character: the parser says where it is unexpected.
    Other(char),
    /// What the lexer could not read; the parser reports it when it gets there, as Go's
    /// parser (fed by a lexer running ahead) does.
    Error(String),
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Keyword {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Text(t) => write!(f, "{t:?}"),
            Tok::LeftDelim => f.write_str("{{"),
            Tok::RightDelim => f.write_str("}}"),
            Tok::Space => f.write_str("space"),
            Tok::Identifier(s) | Tok::Field(s) | Tok::Variable(s) | Tok::Number(s) => {
                f.write_str(s)
            }
            Tok::Keyword(k) => write!(f, "<{}>", format!("{k:?}").to_lowercase()),
            Tok::Dot => f.write_str("."),
            Tok::Nil => f.write_str("nil"),
            Tok::Bool(b) => write!(f, "{b}"),
            Tok::Str { quoted, .. } | Tok::Char { quoted, .. } => f.write_str(quoted),
            Tok::Pipe => f.write_str("|"),
            Tok::LeftParen => f.write_str("("),
            Tok::RightParen => f.write_str(")"),
            Tok::Declare => f.write_str(":="),
            Tok::Assign => f.write_str("="),
            Tok::Comma => f.write_str(","),
            Tok::Other(c) => write!(f, "{c}"),
            Tok::Error(message) => f.write_str(message),
            Tok::Eof => f.write_str("EOF"),
        }
    }
}

/// A token and where it starts (a byte offset into the template text).
#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// A lexing error and the byte offset it was found at.
#[derive(Debug, Clone)]
pub struct LexError {
    pub message: String,
    pub pos: usize,
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Tokens of a whole template, ending in `Eof` or, where the text cannot be read, `Error`.
pub fn lex(text: &str) -> Vec<Token> {
    let mut lexer = Lexer {
        text,
        pos: 0,
        tokens: Vec::new(),
        paren_depth: 0,
    };
    if let Err(LexError { message, pos }) = lexer.run() {
        lexer.tokens.push(Token {
            tok: Tok::Error(message),
            pos,
        });
    }
    lexer.tokens
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    tokens: Vec<Token>,
    paren_depth: usize,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn emit(&mut self, tok: Tok, pos: usize) {
        self.tokens.push(Token { tok, pos });
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            message: message.into(),
            pos: self.pos,
        })
    }

    fn run(&mut self) -> Result<(), LexError> {
        loop {
            let start = self.pos;
            let Some(offset) = self.rest().find(LEFT) else {
                if start < self.text.len() {
                    self.emit(Tok::Text(self.text[start..].to_string()), start);
                }
                self.emit(Tok::Eof, self.text.len());
                return Ok(());
            };
            let delim = start + offset;
            let after = &self.text[delim + LEFT.len()..];
            let trim_left = after.starts_with('-') && after[1..].starts_with(is_space);
            let mut text = &self.text[start..delim];
            if trim_left {
                text = text.trim_end_matches(is_space);
            }
            if !text.is_empty() {
                self.emit(Tok::Text(text.to_string()), start);
            }
            self.pos = delim + LEFT.len() + if trim_left { 2 } else { 0 };
            if self.rest().starts_with("/*") {
                self.comment(delim)?;
                continue;
            }
            self.emit(Tok::LeftDelim, delim);
            self.paren_depth = 0;
            self.inside_action()?;
        }
    }

    /// `{{/* … */}}`, which must close right after the comment.
    fn comment(&mut self, delim: usize) -> Result<(), LexError> {
        let Some(end) = self.rest().find("*/") else {
            self.pos = delim;
            return self.error("unclosed comment");
        };
        self.pos += end + 2;
        let (trim_right, width) = self.right_delim_at_pos();
        if width == 0 {
            return self.error("comment ends before closing delimiter");
        }
        self.pos += width;
        if trim_right {
            self.skip_leading_space();
        }
        Ok(())
    }

    /// Whether a right delimiter (with or without a trim marker) starts here, and its width.
    fn right_delim_at_pos(&self) -> (bool, usize) {
        let rest = self.rest();
        if rest.starts_with(RIGHT) {
            return (false, RIGHT.len());
        }
        let mut chars = rest.char_indices();
        if let Some((_, c)) = chars.next()
            && is_space(c)
            && rest[c.len_utf8()..].starts_with('-')
            && rest[c.len_utf8() + 1..].starts_with(RIGHT)
        {
            return (true, c.len_utf8() + 1 + RIGHT.len());
        }
        (false, 0)
    }

    fn skip_leading_space(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start_matches(is_space).len();
    }

    fn inside_action(&mut self) -> Result<(), LexError> {
        loop {
            let (trim_right, width) = self.right_delim_at_pos();
            if width > 0 && self.paren_depth > 0 {
                return self.error("unclosed left paren");
            }
            if width > 0 {
                let at = self.pos + width - RIGHT.len();
                self.pos += width;
                self.emit(Tok::RightDelim, at);
                if trim_right {
                    self.skip_leading_space();
                }
                return Ok(());
            }
            let start = self.pos;
            let Some(c) = self.peek() else {
                return self.error("unclosed action");
            };
            match c {
                c if is_space(c) => {
                    self.skip_leading_space_in_action();
                    self.emit(Tok::Space, start);
                }
                '=' => {
                    self.pos += 1;
                    self.emit(Tok::Assign, start);
                }
                ':' => {
                    if !self.rest().starts_with(":=") {
                        return self.error("expected :=");
                    }
                    self.pos += 2;
                    self.emit(Tok::Declare, start);
                }
                '|' => {
                    self.pos += 1;
                    self.emit(Tok::Pipe, start);
                }
                '"' => self.quoted(start)?,
                '`' => self.raw_string(start)?,
                '\'' => self.char_constant(start)?,
                '$' => {
                    self.pos += 1;
                    let name = self.word();
                    self.emit(Tok::Variable(format!("${name}")), start);
                }
                '.' => {
                    let next = self.rest()[1..].chars().next();
                    if next.is_some_and(|n| n.is_ascii_digit()) {
                        self.number(start)?;
                    } else if next.is_some_and(is_alphanumeric) {
                        self.pos += 1;
                        let name = self.word();
                        self.emit(Tok::Field(name), start);
                    } else {
                        self.pos += 1;
                        self.emit(Tok::Dot, start);
                    }
                }
                '+' | '-' | '0'..='9' => self.number(start)?,
                '(' => {
                    self.pos += 1;
                    self.paren_depth += 1;
                    self.emit(Tok::LeftParen, start);
                }
                ')' => {
                    self.pos += 1;
                    if self.paren_depth == 0 {
                        return self.error("unexpected right paren");
                    }
                    self.paren_depth -= 1;
                    self.emit(Tok::RightParen, start);
                }
                ',' => {
                    self.pos += 1;
                    self.emit(Tok::Comma, start);
                }
                c if is_alphanumeric(c) => {
                    let word = self.word();
                    let tok = match word.as_str() {
                        "block" => Tok::Keyword(Keyword::Block),
                        "break" => Tok::Keyword(Keyword::Break),
                        "continue" => Tok::Keyword(Keyword::Continue),
                        "define" => Tok::Keyword(Keyword::Define),
                        "else" => Tok::Keyword(Keyword::Else),
                        "end" => Tok::Keyword(Keyword::End),
                        "if" => Tok::Keyword(Keyword::If),
                        "range" => Tok::Keyword(Keyword::Range),
                        "template" => Tok::Keyword(Keyword::Template),
                        "with" => Tok::Keyword(Keyword::With),
                        "nil" => Tok::Nil,
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        _ => Tok::Identifier(word),
                    };
                    self.emit(tok, start);
                }
                c if c.is_ascii_graphic() => {
                    self.pos += 1;
                    self.emit(Tok::Other(c), start);
                }
                c => return self.error(format!("unrecognized character in action: {c:?}")),
            }
        }
    }

    fn skip_leading_space_in_action(&mut self) {
        while let Some(c) = self.peek() {
            if !is_space(c) || self.right_delim_at_pos().1 > 0 {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    fn word(&mut self) -> String {
        let rest = self.rest();
        let len = rest.find(|c| !is_alphanumeric(c)).unwrap_or(rest.len());
        let word = rest[..len].to_string();
        self.pos += len;
        word
    }

    fn number(&mut self, start: usize) -> Result<(), LexError> {
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|&(i, c)| {
                !(c.is_ascii_alphanumeric()
                    || c == '_'
                    || c == '.'
                    || (matches!(c, '+' | '-')
                        && (i == 0 || matches!(rest.as_bytes()[i - 1], b'e' | b'E' | b'p' | b'P'))))
            })
            .map_or(rest.len(), |(i, _)| i);
        let text = rest[..len].to_string();
        self.pos += len;
        if !text.chars().any(|c| c.is_ascii_digit()) {
            return self.error(format!("bad number syntax: {text:?}"));
        }
        self.emit(Tok::Number(text), start);
        Ok(())
    }

    fn quoted(&mut self, start: usize) -> Result<(), LexError> {
        let rest = &self.text[start..];
        let mut end = None;
        let mut escaped = false;
        for (i, c) in rest.char_indices().skip(1) {
            match c {
                '\n' => break,
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else {
            return self.error("unterminated quoted string");
        };
        let quoted = &rest[..=end];
        let value = unquote(&quoted[1..end]).map_err(|message| LexError {
            message,
            pos: start,
        })?;
        self.pos = start + end + 1;
        self.emit(
            Tok::Str {
                value,
                quoted: quoted.to_string(),
            },
            start,
        );
        Ok(())
    }

    fn raw_string(&mut self, start: usize) -> Result<(), LexError> {
        let Some(end) = self.text[start + 1..].find('`') else {
            return self.error("unterminated raw quoted string");
        };
        let value = self.text[start + 1..start + 1 + end].replace('\r', "");
        let quoted = self.text[start..start + end + 2].to_string();
        self.pos = start + end + 2;
        self.emit(Tok::Str { value, quoted }, start);
        Ok(())
    }

    fn char_constant(&mut self, start: usize) -> Result<(), LexError> {
        let rest = &self.text[start..];
        let mut escaped = false;
        let mut end = None;
        for (i, c) in rest.char_indices().skip(1) {
            match c {
                '\n' => break,
                '\\' if !escaped => escaped = true,
                '\'' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else {
            return self.error("unterminated character constant");
        };
        let body = &rest[1..end];
        let value = unquote(&body.replace("\\'", "'")).map_err(|message| LexError {
            message,
            pos: start,
        })?;
        let mut chars = value.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return self.error(format!("malformed character constant: {}", &rest[..=end]));
        };
        self.pos = start + end + 1;
        self.emit(
            Tok::Char {
                value: c,
                quoted: rest[..=end].to_string(),
            },
            start,
        );
        Ok(())
    }
}

/// The value of a Go interpreted string literal's body.
fn unquote(body: &str) -> Result<String, String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escape = chars.next().ok_or("invalid syntax")?;
        match escape {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' | 'u' | 'U' => {
                let width = match escape {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let digits: String = chars.by_ref().take(width).collect();
                let code = u32::from_str_radix(&digits, 16).map_err(|_| "invalid syntax")?;
                out.push(char::from_u32(code).ok_or("invalid syntax")?);
            }
            '0'..='7' => {
                let digits: String = std::iter::once(escape)
                    .chain(chars.by_ref().take(2))
                    .collect();
                let code = u32::from_str_radix(&digits, 8).map_err(|_| "invalid syntax")?;
                out.push(char::from_u32(code).ok_or("invalid syntax")?);
            }
            _ => return Err("invalid syntax".into()),
        }
    }
    Ok(out)
}
