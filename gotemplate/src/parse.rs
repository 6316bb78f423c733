//! The parser: tokens into trees, with Go's grammar, parse-time checks (functions and
//! variables must be defined) and error messages.

use std::fmt;
use std::sync::Arc;

use crate::lex::{Keyword, Tok, Token, lex};

/// One parsed template: its name, its body, and the text its positions point into.
#[derive(Debug, Clone)]
pub struct Tree {
    pub name: String,
    pub root: List,
    pub source: Arc<Source>,
}

/// A parsed text, for turning byte offsets into line:column.
#[derive(Debug)]
pub struct Source {
    /// The name errors give the text (the template the file was parsed as).
    pub name: String,
    pub text: String,
}

impl Source {
    /// 1-based line and 0-based byte column of `pos`, as Go's `ErrorContext` counts them.
    pub fn line_col(&self, pos: usize) -> (usize, usize) {
        let before = &self.text[..pos.min(self.text.len())];
        let line = 1 + before.matches('\n').count();
        let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1);
        (line, col)
    }
}

pub type List = Vec<Node>;

#[derive(Debug, Clone)]
pub enum Node {
    Text(Arc<str>),
    Action(Pipe),
    If(Box<Branch>),
    Range(Box<Branch>),
    With(Box<Branch>),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub struct Branch {
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

#[derive(Debug, Clone)]
pub struct Pipe {
    pub pos: usize,
    pub decl: Vec<String>,
    /// `=` rather than `:=`.
    pub is_assign: bool,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub enum Arg {
    /// A function name.
    Identifier {
        pos: usize,
        name: String,
    },
    Dot(usize),
    Nil(usize),
    Bool(usize, bool),
    Number {
        pos: usize,
        value: Number,
        text: String,
    },
    Str {
        pos: usize,
        value: Arc<str>,
        quoted: String,
    },
    /// `.A.B`.
    Field {
        pos: usize,
        names: Vec<String>,
    },
    /// `$x.A.B`: the variable's name first.
    Variable {
        pos: usize,
        names: Vec<String>,
    },
    /// `(pipeline).A.B`.
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
    Pipe(Box<Pipe>),
}

/// A numeric constant as Go's template executor uses it (`int` or `float64`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
    /// Too large for `int`; an error when used.
    Overflow,
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Identifier { pos, .. }
            | Arg::Dot(pos)
            | Arg::Nil(pos)
            | Arg::Bool(pos, _)
            | Arg::Number { pos, .. }
            | Arg::Str { pos, .. }
            | Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Chain { pos, .. } => *pos,
            Arg::Pipe(pipe) => pipe.pos,
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Identifier { name, .. } => f.write_str(name),
            Arg::Dot(_) => f.write_str("."),
            Arg::Nil(_) => f.write_str("nil"),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Number { text, .. } => f.write_str(text),
            Arg::Str { quoted, .. } => f.write_str(quoted),
            Arg::Field { names, .. } => names.iter().try_for_each(|n| write!(f, ".{n}")),
            Arg::Variable { names, .. } => {
                f.write_str(&names[0])?;
                names[1..].iter().try_for_each(|n| write!(f, ".{n}"))
            }
            Arg::Chain { node, fields, .. } => {
                match node.as_ref() {
                    Arg::Pipe(pipe) => write!(f, "({pipe})")?,
                    other => write!(f, "{other}")?,
                }
                fields.iter().try_for_each(|n| write!(f, ".{n}"))
            }
            Arg::Pipe(pipe) => write!(f, "({pipe})"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{arg}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(
                f,
                "{} {} ",
                self.decl.join(", "),
                if self.is_assign { "=" } else { ":=" }
            )?;
        }
        for (i, cmd) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{cmd}")?;
        }
        Ok(())
    }
}

/// A parse error as Go words it: `template: <name>:<line>: <message>`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub name: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "template: {}:{}: {}", self.name, self.line, self.message)
    }
}

/// Go's bound on nested parenthesized pipelines.
const MAX_PAREN_DEPTH: usize = 10_000;

/// What one text defines: its own body (named after the text) and every `define`/`block`.
pub struct Parsed {
    pub trees: Vec<Tree>,
}

/// Parses `text` as the template `name`; `is_function` says which identifiers are functions.
pub fn parse(
    name: &str,
    text: &str,
    is_function: &dyn Fn(&str) -> bool,
) -> Result<Parsed, ParseError> {
    let source = Arc::new(Source {
        name: name.to_string(),
        text: text.to_string(),
    });
    let tokens = lex(text);
    let mut parser = Parser {
        tokens,
        index: 0,
        source: Arc::clone(&source),
        is_function,
        vars: vec!["$".to_string()],
        range_depth: 0,
        action_start: None,
        paren_depth: 0,
        defined: Vec::new(),
        context: name.to_string(),
    };
    let root = parser.top_level()?;
    let mut trees = vec![Tree {
        name: name.to_string(),
        root,
        source,
    }];
    trees.append(&mut parser.defined);
    Ok(Parsed { trees })
}

/// What ended a list.
enum Closer {
    End,
    Else(usize),
    Eof,
}

struct Parser<'a> {
    tokens: Vec<Token>,
    index: usize,
    source: Arc<Source>,
    is_function: &'a dyn Fn(&str) -> bool,
    vars: Vec<String>,
    range_depth: usize,
    /// Where the current action started, for errors found lines later (its line is counted
    /// only then: counting lines at every action would make parsing quadratic).
    action_start: Option<usize>,
    /// Parenthesized pipelines open around the current token.
    paren_depth: usize,
    defined: Vec<Tree>,
    /// The template being parsed, for error messages (`in define clause`…).
    context: String,
}

type Parse<T> = Result<T, ParseError>;

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.index.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.index < self.tokens.len() {
            self.index += 1;
        }
        token
    }

    fn peek_non_space(&mut self) -> &Token {
        while self.peek().tok == Tok::Space {
            self.index += 1;
        }
        self.peek()
    }

    fn next_non_space(&mut self) -> Token {
        self.peek_non_space();
        self.next()
    }

    fn error<T>(&self, pos: usize, message: impl Into<String>) -> Parse<T> {
        Err(ParseError {
            name: self.source.name.clone(),
            line: self.source.line_col(pos).0,
            message: message.into(),
        })
    }

    fn unexpected<T>(&self, token: &Token, context: &str) -> Parse<T> {
        if let Tok::Error(message) = &token.tok {
            let line = self.source.line_col(token.pos).0;
            let mut extra = String::new();
            let action_line = self.action_start.map(|pos| self.source.line_col(pos).0);
            if let Some(action_line) = action_line
                && action_line != line
            {
                extra = format!(" in action started at {}:{action_line}", self.source.name);
                if message.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.error(token.pos, format!("{message}{extra}"));
        }
        let what = match &token.tok {
            Tok::Eof => return self.error(token.pos, "unexpected EOF"),
            Tok::Keyword(k) => format!("<{}>", format!("{k:?}").to_lowercase()),
            Tok::RightDelim => "\"}}\"".to_string(),
            Tok::Str { quoted, .. } => quoted.clone(),
            other => format!("{:?}", other.to_string()),
        };
        self.error(token.pos, format!("unexpected {what} in {context}"))
    }

    fn expect_right_delim(&mut self, context: &str) -> Parse<()> {
        let token = self.next_non_space();
        if token.tok != Tok::RightDelim {
            return self.unexpected(&token, context);
        }
        Ok(())
    }

    fn top_level(&mut self) -> Parse<List> {
        let mut list = Vec::new();
        loop {
            let token = self.peek().clone();
            match token.tok {
                Tok::Eof => return Ok(list),
                Tok::LeftDelim => {
                    let after = self.index;
                    self.next();
                    self.action_start = Some(token.pos);
                    if self.peek_non_space().tok == Tok::Keyword(Keyword::Define) {
                        self.next();
                        self.define()?;
                        continue;
                    }
                    self.index = after;
                    match self.text_or_action()? {
                        Item::Node(node) => list.push(node),
                        Item::End(Closer::Eof) => return Ok(list),
                        Item::End(Closer::End) => {
                            return self.error(token.pos, "unexpected {{end}}");
                        }
                        Item::End(Closer::Else(pos)) => {
                            return self.error(pos, "unexpected {{else}}");
                        }
                    }
                }
                _ => match self.text_or_action()? {
                    Item::Node(node) => list.push(node),
                    Item::End(_) => return Ok(list),
                },
            }
        }
    }

    fn define(&mut self) -> Parse<()> {
        let token = self.next_non_space();
        let Tok::Str { value: name, .. } = token.tok else {
            return self.unexpected(&token, "define clause");
        };
        self.expect_right_delim("define clause")?;
        let saved = std::mem::replace(&mut self.context, name.clone());
        let vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (list, end) = self.list()?;
        self.vars = vars;
        self.context = saved;
        match end {
            Closer::End => {}
            Closer::Else(pos) => return self.error(pos, "unexpected {{else}}"),
            Closer::Eof => {
                return self.error(token.pos, "unexpected EOF in define clause".to_string());
            }
        }
        self.add_defined(Tree {
            name,
            root: list,
            source: Arc::clone(&self.source),
        })
    }

    /// One text may define a name twice only if one of the bodies is empty.
    fn add_defined(&mut self, tree: Tree) -> Parse<()> {
        if let Some(existing) = self.defined.iter_mut().find(|t| t.name == tree.name) {
            if crate::is_empty(&existing.root) {
                *existing = tree;
            } else if !crate::is_empty(&tree.root) {
                let pos = self.tokens[self.index.saturating_sub(1)].pos;
                return self.error(
                    pos,
                    format!("template: multiple definition of template {:?}", tree.name),
                );
            }
            return Ok(());
        }
        self.defined.push(tree);
        Ok(())
    }

    /// Nodes up to `{{end}}` or `{{else}}` (consumed, and reported) or EOF.
    fn list(&mut self) -> Parse<(List, Closer)> {
        stacker::maybe_grow(crate::exec::RED_ZONE, crate::exec::STACK_SEGMENT, || {
            self.list_nodes()
        })
    }

    fn list_nodes(&mut self) -> Parse<(List, Closer)> {
        let mut list = Vec::new();
        loop {
            match self.text_or_action()? {
                Item::Node(node) => list.push(node),
                Item::End(end) => return Ok((list, end)),
            }
        }
    }

    fn text_or_action(&mut self) -> Parse<Item> {
        let token = self.next();
        match token.tok {
            Tok::Text(text) => Ok(Item::Node(Node::Text(text.into()))),
            Tok::LeftDelim => {
                self.action_start = Some(token.pos);
                self.action()
            }
            Tok::Eof => Ok(Item::End(Closer::Eof)),
            _ => self.unexpected(&token, "input"),
        }
    }

    fn action(&mut self) -> Parse<Item> {
        let token = self.peek_non_space().clone();
        let keyword = match token.tok {
            Tok::Keyword(k) => k,
            _ => return Ok(Item::Node(Node::Action(self.pipeline("command", false)?))),
        };
        self.next();
        match keyword {
            Keyword::End => {
                self.expect_right_delim("end")?;
                Ok(Item::End(Closer::End))
            }
            Keyword::Else => Ok(Item::End(Closer::Else(token.pos))),
            Keyword::If => Ok(Item::Node(Node::If(Box::new(self.branch("if", false)?)))),
            Keyword::With => Ok(Item::Node(Node::With(Box::new(
                self.branch("with", false)?,
            )))),
            Keyword::Range => {
                self.range_depth += 1;
                let branch = self.branch("range", true);
                self.range_depth -= 1;
                Ok(Item::Node(Node::Range(Box::new(branch?))))
            }
            Keyword::Break | Keyword::Continue => {
                let name = if keyword == Keyword::Break {
                    "break"
                } else {
                    "continue"
                };
                if self.range_depth == 0 {
                    return self.error(token.pos, format!("{{{{{name}}}}} outside {{{{range}}}}"));
                }
                self.expect_right_delim(name)?;
                Ok(Item::Node(if keyword == Keyword::Break {
                    Node::Break
                } else {
                    Node::Continue
                }))
            }
            Keyword::Template => self.template("template"),
            Keyword::Block => {
                let item = self.template("block")?;
                let Item::Node(Node::Template { name, .. }) = &item else {
                    unreachable!("template always gives a template node")
                };
                let name = name.clone();
                let vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
                let (list, end) = self.list()?;
                self.vars = vars;
                if !matches!(end, Closer::End) {
                    return self.error(token.pos, "unexpected EOF in block clause");
                }
                self.add_defined(Tree {
                    name,
                    root: list,
                    source: Arc::clone(&self.source),
                })?;
                Ok(item)
            }
            Keyword::Define => self.error(token.pos, "unexpected <define> in command"),
        }
    }

    fn template(&mut self, context: &str) -> Parse<Item> {
        let token = self.next_non_space();
        let Tok::Str { value: name, .. } = token.tok else {
            return self.unexpected(&token, &format!("{context} clause"));
        };
        let pipe = if self.peek_non_space().tok == Tok::RightDelim {
            self.next();
            None
        } else {
            Some(self.pipeline(&format!("{context} clause"), false)?)
        };
        Ok(Item::Node(Node::Template {
            pos: token.pos,
            name,
            pipe,
        }))
    }

    /// `if`/`with`/`range`: the pipeline, the list, an optional `else` (or `else if`/`else
    /// with`, which nest the same construct in the else list), `end`.
    fn branch(&mut self, context: &str, is_range: bool) -> Parse<Branch> {
        let vars = self.vars.len();
        let pipe = self.pipeline(context, is_range)?;
        let (list, end) = self.list()?;
        let else_list = match end {
            Closer::End => None,
            Closer::Eof => return self.error(pipe.pos, "unexpected EOF".to_string()),
            Closer::Else(pos) => {
                let next = self.peek_non_space().tok.clone();
                if !is_range && next == Tok::Keyword(Keyword::If) && context == "if"
                    || !is_range && next == Tok::Keyword(Keyword::With) && context == "with"
                {
                    // `{{else if x}}` is `{{else}}{{if x}}…{{end}}` sharing this `{{end}}`.
                    self.next();
                    let nested = self.branch(context, false)?;
                    let node = if context == "if" {
                        Node::If(Box::new(nested))
                    } else {
                        Node::With(Box::new(nested))
                    };
                    self.vars.truncate(vars);
                    return Ok(Branch {
                        pipe,
                        list,
                        else_list: Some(vec![node]),
                    });
                }
                self.expect_right_delim("else")?;
                let (else_list, end) = self.list()?;
                match end {
                    Closer::End => Some(else_list),
                    Closer::Else(pos) => {
                        return self.error(pos, "expected end; found {{else}}".to_string());
                    }
                    Closer::Eof => return self.error(pos, "unexpected EOF"),
                }
            }
        };
        self.vars.truncate(vars);
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    /// A pipeline up to the closing delimiter, declarations first.
    fn pipeline(&mut self, context: &str, is_range: bool) -> Parse<Pipe> {
        let start = self.peek_non_space().pos;
        let mut decl = Vec::new();
        let mut is_assign = false;
        // `$x :=`, `$x =`, and in range `$k, $v :=`.
        let save = self.index;
        if let Tok::Variable(name) = self.peek_non_space().tok.clone() {
            self.next();
            let after = self.peek_non_space().tok.clone();
            match after {
                Tok::Declare | Tok::Assign => {
                    self.next();
                    is_assign = after == Tok::Assign;
                    decl.push(name);
                }
                Tok::Comma if is_range => {
                    self.next();
                    let second = self.next_non_space();
                    let Tok::Variable(second_name) = second.tok else {
                        return self.error(
                            second.pos,
                            "range can only initialize variables".to_string(),
                        );
                    };
                    let op = self.next_non_space();
                    if !matches!(op.tok, Tok::Declare | Tok::Assign) {
                        return self.error(op.pos, "range can only initialize variables");
                    }
                    is_assign = op.tok == Tok::Assign;
                    decl.push(name);
                    decl.push(second_name);
                }
                _ => self.index = save,
            }
        }
        if is_assign {
            for name in &decl {
                if !self.vars.contains(name) {
                    return self.error(start, format!("undefined variable {name:?}"));
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            let token = self.peek_non_space().clone();
            match token.tok {
                Tok::RightDelim | Tok::RightParen => {
                    if token.tok == Tok::RightDelim {
                        self.next();
                    }
                    if cmds.is_empty() {
                        return self.error(token.pos, format!("missing value for {context}"));
                    }
                    break;
                }
                _ => {
                    cmds.push(self.command()?);
                    let token = self.peek_non_space().clone();
                    match token.tok {
                        Tok::Pipe => {
                            self.next();
                        }
                        Tok::RightDelim | Tok::RightParen => {}
                        _ => return self.unexpected(&token, "operand"),
                    }
                }
            }
        }
        for (i, cmd) in cmds.iter().enumerate().skip(1) {
            if matches!(
                cmd.args[0],
                Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number { .. } | Arg::Str { .. }
            ) {
                return self.error(
                    cmd.pos,
                    format!("non executable command in pipeline stage {}", i + 1),
                );
            }
        }
        if !is_assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipe {
            pos: start,
            decl,
            is_assign,
            cmds,
        })
    }

    fn command(&mut self) -> Parse<Command> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            let token = self.peek_non_space().clone();
            match token.tok {
                Tok::RightDelim | Tok::RightParen | Tok::Pipe => break,
                _ => args.push(self.operand()?),
            }
        }
        if args.is_empty() {
            return self.error(pos, "empty command");
        }
        Ok(Command { pos, args })
    }

    /// A term and the field chain written right after it.
    fn operand(&mut self) -> Parse<Arg> {
        let term = self.term()?;
        let mut fields = Vec::new();
        // As in Go, a chained node is placed where its chain starts: at the first field
        // written after the term.
        let chain_pos = self.peek().pos;
        while let Tok::Field(name) = &self.peek().tok {
            fields.push(name.clone());
            self.next();
        }
        if fields.is_empty() {
            return Ok(term);
        }
        Ok(match term {
            Arg::Field { mut names, .. } => {
                names.extend(fields);
                Arg::Field {
                    pos: chain_pos,
                    names,
                }
            }
            Arg::Variable { mut names, .. } => {
                names.extend(fields);
                Arg::Variable {
                    pos: chain_pos,
                    names,
                }
            }
            Arg::Bool(pos, _)
            | Arg::Str { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::Nil(pos)
            | Arg::Dot(pos) => {
                return self.error(
                    pos,
                    format!("unexpected . after term {:?}", term.to_string()),
                );
            }
            other => Arg::Chain {
                pos: chain_pos,
                node: Box::new(other),
                fields,
            },
        })
    }

    fn term(&mut self) -> Parse<Arg> {
        stacker::maybe_grow(crate::exec::RED_ZONE, crate::exec::STACK_SEGMENT, || {
            self.term_arg()
        })
    }

    fn term_arg(&mut self) -> Parse<Arg> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(match token.tok {
            Tok::Identifier(name) => {
                if !(self.is_function)(&name) {
                    return self.error(pos, format!("function {name:?} not defined"));
                }
                Arg::Identifier { pos, name }
            }
            Tok::Dot => Arg::Dot(pos),
            Tok::Nil => Arg::Nil(pos),
            Tok::Bool(b) => Arg::Bool(pos, b),
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return self.error(pos, format!("undefined variable {name:?}"));
                }
                Arg::Variable {
                    pos,
                    names: vec![name],
                }
            }
            Tok::Field(name) => Arg::Field {
                pos,
                names: vec![name],
            },
            Tok::Str { value, quoted } => Arg::Str {
                pos,
                value: value.into(),
                quoted,
            },
            Tok::Char { value, quoted } => Arg::Number {
                pos,
                value: Number::Int(value as i64),
                text: quoted,
            },
            Tok::Number(text) => {
                let Some(value) = parse_number(&text) else {
                    return self.error(pos, format!("illegal number syntax: {text:?}"));
                };
                Arg::Number { pos, value, text }
            }
            Tok::LeftParen => {
                if self.paren_depth >= MAX_PAREN_DEPTH {
                    return self.error(pos, "max expression depth exceeded");
                }
                self.paren_depth += 1;
                let pipe = self.pipeline("parenthesized pipeline", false);
                self.paren_depth -= 1;
                let pipe = pipe?;
                let close = self.next_non_space();
                if close.tok != Tok::RightParen {
                    return self.unexpected(&close, "parenthesized pipeline");
                }
                Arg::Pipe(Box::new(pipe))
            }
            _ => return self.unexpected(&token, "operand"),
        })
    }
}

enum Item {
    Node(Node),
    End(Closer),
}

/// A Go numeric literal as the executor will use it: an `int` when it is integral and
/// written without a point or exponent (or is a hex/octal/binary literal), else `float64`.
fn parse_number(text: &str) -> Option<Number> {
    let (negative, digits) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let clean = digits.replace('_', "");
    let lower = clean.to_ascii_lowercase();
    let radix_int = |radix: u32, body: &str| {
        u64::from_str_radix(body, radix)
            .ok()
            .map(|magnitude| to_int(negative, magnitude))
    };
    if let Some(hex) = lower.strip_prefix("0x") {
        if hex.contains('p') {
            let value = hex_float(hex)?;
            return Some(Number::Float(if negative { -value } else { value }));
        }
        return radix_int(16, hex);
    }
    if let Some(octal) = lower.strip_prefix("0o") {
        return radix_int(8, octal);
    }
    if let Some(binary) = lower.strip_prefix("0b") {
        return radix_int(2, binary);
    }
    if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit()) {
        return radix_int(8, &lower[1..]);
    }
    if lower.bytes().all(|b| b.is_ascii_digit()) {
        return match lower.parse::<u64>() {
            Ok(magnitude) => Some(to_int(negative, magnitude)),
            Err(_) => lower.parse::<f64>().ok().map(|_| Number::Overflow),
        };
    }
    let value: f64 = lower.parse().ok()?;
    // An integral float constant written with a point is still an int when it is used
    // where any value goes? No: Go keeps `1.0` a float64.
    Some(Number::Float(if negative { -value } else { value }))
}

/// A hexadecimal float's value (after `0x`): hex digits with an optional point, then `p`
/// and a decimal power of two.
fn hex_float(text: &str) -> Option<f64> {
    let (mantissa, exponent) = text.split_once('p')?;
    let exponent: i32 = exponent.parse().ok()?;
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for digit in whole.chars().chain(fraction.chars()) {
        value = value * 16.0 + f64::from(digit.to_digit(16)?);
    }
    let shift = exponent - 4 * i32::try_from(fraction.len()).ok()?;
    Some(value * 2f64.powi(shift))
}

fn to_int(negative: bool, magnitude: u64) -> Number {
    if negative {
        if magnitude <= i64::MAX as u64 + 1 {
            return Number::Int((magnitude as i128).wrapping_neg() as i64);
        }
    } else if let Ok(value) = i64::try_from(magnitude) {
        return Number::Int(value);
    }
    Number::Overflow
}
