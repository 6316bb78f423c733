//! Execution: a tree walked over data, with Go's rules for fields, methods, functions,
//! variables, control flow and printing.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::builtins;
use crate::parse::{Arg, Branch, Command, List, Node, Number, Pipe, Source, Tree};
use crate::{FuncError, Set, Value};

/// Go's limit on nested template calls.
const MAX_DEPTH: usize = 100_000;

/// Stack left before a recursive step gets a new segment, and the size of one.
pub(crate) const RED_ZONE: usize = 128 * 1024;
pub(crate) const STACK_SEGMENT: usize = 4 * 1024 * 1024;

/// An execution error as Go words it:
/// `template: <file>:<line>:<col>: executing "<name>" at <<node>>: <message>`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecError {
    /// Where: `<file>:<line>:<col>`, empty when no node was being evaluated.
    pub location: String,
    /// The template being executed.
    pub name: String,
    /// The node being evaluated, as Go prints it.
    pub context: String,
    pub message: String,
    /// The error this one wraps (Go's `%w`), if any.
    pub cause: Option<Cause>,
}

/// What an execution error wraps: a failed template run inside a function (`include`), or
/// an error a function returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    Exec(Box<ExecError>),
    Plain(String),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            write!(f, "template: {}: {}", self.name, self.message)
        } else {
            write!(
                f,
                "template: {}: executing {:?} at <{}>: {}",
                self.location, self.name, self.context, self.message
            )
        }
    }
}

impl std::error::Error for ExecError {}

/// Why a text could not be run as a template.
#[derive(Debug, Clone, PartialEq)]
pub enum TextError {
    Parse(crate::ParseError),
    Exec(ExecError),
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::Parse(e) => e.fmt(f),
            TextError::Exec(e) => e.fmt(f),
        }
    }
}

/// How a walk stopped early.
enum Stop {
    Error(ExecError),
    Break,
    Continue,
}

impl From<ExecError> for Stop {
    fn from(e: ExecError) -> Self {
        Stop::Error(e)
    }
}

type Walk<T> = Result<T, Stop>;

/// One execution: the set, the variable stack, and where it is (for errors).
pub struct Exec<'a> {
    set: &'a Set,
    vars: Vec<(String, Value)>,
    depth: usize,
    name: String,
    source: Option<Arc<Source>>,
    at: Option<(usize, String)>,
    /// Nesting of engine calls by template name (`include` counts its own recursion).
    pub calls: HashMap<String, usize>,
    /// Nodes and range iterations left before execution stops (`None`: no bound, as Go).
    pub steps_left: Option<u64>,
}

impl<'a> Exec<'a> {
    pub fn new(set: &'a Set) -> Self {
        Exec {
            set,
            vars: Vec::new(),
            depth: 0,
            name: String::new(),
            source: None,
            at: None,
            calls: HashMap::new(),
            steps_left: None,
        }
    }

    /// Executes the template `name` with `data` as dot, appending to `out`.
    pub fn execute(&mut self, name: &str, data: &Value, out: &mut String) -> Result<(), ExecError> {
        let tree = self.set.tree(name).cloned().ok_or_else(|| ExecError {
            location: String::new(),
            name: name.to_string(),
            context: String::new(),
            message: format!(
                "no template {name:?} associated with template {:?}",
                self.name
            ),
            cause: None,
        })?;
        self.execute_tree(&tree, data, out)
    }

    /// Executes one parsed tree with `data` as dot.
    fn execute_tree(
        &mut self,
        tree: &Tree,
        data: &Value,
        out: &mut String,
    ) -> Result<(), ExecError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(format!("exceeded maximum template depth ({MAX_DEPTH})")));
        }
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".to_string(), data.clone())]);
        let saved_name = std::mem::replace(&mut self.name, tree.name.clone());
        let saved_source = self.source.replace(Arc::clone(&tree.source));
        let saved_at = self.at.take();
        self.depth += 1;
        let result = self.walk(out, &tree.root, data);
        self.depth -= 1;
        self.vars = saved_vars;
        self.name = saved_name;
        self.source = saved_source;
        self.at = saved_at;
        match result {
            Ok(()) => Ok(()),
            Err(Stop::Error(e)) => Err(e),
            // The parser allows break and continue only inside range.
            Err(Stop::Break | Stop::Continue) => Ok(()),
        }
    }

    /// Helm's `tpl`: `text` parsed as the template `name` into a copy of this set (so it
    /// sees every define, and its own defines stay its own), then executed with `data`.
    pub fn execute_text(
        &mut self,
        name: &str,
        text: &str,
        data: &Value,
    ) -> Result<String, TextError> {
        let mut set = self.set.clone();
        // The text's own body runs even when it is empty and so did not replace the set's
        // template of that name (Go executes the new template object, not the name).
        let tree = set.parse(name, text).map_err(TextError::Parse)?;
        let mut nested = Exec::new(&set);
        nested.depth = self.depth;
        nested.calls = std::mem::take(&mut self.calls);
        nested.steps_left = self.steps_left;
        let mut out = String::new();
        let result = nested.execute_tree(&tree, data, &mut out);
        self.calls = nested.calls;
        self.steps_left = nested.steps_left;
        result.map(|()| out).map_err(TextError::Exec)
    }

    fn error(&self, message: impl Into<String>) -> ExecError {
        let (location, context) = match (&self.source, &self.at) {
            (Some(source), Some((pos, context))) => {
                let (line, col) = source.line_col(*pos);
                (format!("{}:{line}:{col}", source.name), context.clone())
            }
            _ => (String::new(), String::new()),
        };
        ExecError {
            location,
            name: self.name.clone(),
            context,
            message: message.into(),
            cause: None,
        }
    }

    fn error_caused(&self, message: String, cause: Cause) -> ExecError {
        ExecError {
            cause: Some(cause),
            ..self.error(message)
        }
    }

    fn at(&mut self, pos: usize, node: &dyn fmt::Display) {
        self.at = Some((pos, node.to_string()));
    }

    /// Templates nest as deep as they are written (up to Go's limit); the stack grows on
    /// the heap as needed rather than overflowing.
    fn walk(&mut self, out: &mut String, list: &List, dot: &Value) -> Walk<()> {
        stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || self.walk_nodes(out, list, dot))
    }

    /// Counts one step against the budget, if there is one.
    fn step(&mut self) -> Walk<()> {
        match &mut self.steps_left {
            Some(0) => Err(self
                .error("template execution exceeded its step budget")
                .into()),
            Some(left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn walk_nodes(&mut self, out: &mut String, list: &List, dot: &Value) -> Walk<()> {
        for node in list {
            self.step()?;
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Action(pipe) => {
                    let value = self.pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        print_value(out, &value);
                    }
                }
                Node::If(branch) => self.if_or_with(out, branch, dot, false)?,
                Node::With(branch) => self.if_or_with(out, branch, dot, true)?,
                Node::Range(branch) => self.range(out, branch, dot)?,
                Node::Template { pos, name, pipe } => {
                    let node = match pipe {
                        Some(pipe) => format!("{{{{template {name:?} {pipe}}}}}"),
                        None => format!("{{{{template {name:?}}}}}"),
                    };
                    self.at(*pos, &node);
                    if self.set.tree(name).is_none() {
                        return Err(self.error(format!("template {name:?} not defined")).into());
                    }
                    if self.depth >= MAX_DEPTH {
                        let message = format!("exceeded maximum template depth ({MAX_DEPTH})");
                        return Err(self.error(message).into());
                    }
                    let data = match pipe {
                        Some(pipe) => self.pipeline(dot, pipe)?,
                        None => Value::Nil,
                    };
                    self.execute(name, &data, out)?;
                }
                Node::Break => return Err(Stop::Break),
                Node::Continue => return Err(Stop::Continue),
            }
        }
        Ok(())
    }

    fn if_or_with(
        &mut self,
        out: &mut String,
        branch: &Branch,
        dot: &Value,
        is_with: bool,
    ) -> Walk<()> {
        let mark = self.vars.len();
        let value = self.pipeline(dot, &branch.pipe)?;
        let result = if value.truthy() {
            self.walk(out, &branch.list, if is_with { &value } else { dot })
        } else if let Some(else_list) = &branch.else_list {
            self.walk(out, else_list, dot)
        } else {
            Ok(())
        };
        self.vars.truncate(mark);
        result
    }

    fn range(&mut self, out: &mut String, branch: &Branch, dot: &Value) -> Walk<()> {
        let mark = self.vars.len();
        let value = self.pipeline(dot, &branch.pipe)?;
        // Key and element of each iteration; a range over an integer counts without
        // holding its numbers.
        let items: Box<dyn Iterator<Item = (Value, Value)>> = match &value {
            Value::List(items) => {
                let items = std::sync::Arc::clone(items);
                Box::new((0..items.len()).map(move |i| (Value::Int(i as i64), items[i].clone())))
            }
            Value::Bytes(bytes) => {
                let bytes = std::sync::Arc::clone(bytes);
                Box::new(
                    (0..bytes.len())
                        .map(move |i| (Value::Int(i as i64), Value::Int(i64::from(bytes[i])))),
                )
            }
            Value::Map(map) => {
                let entries: Vec<(Value, Value)> = map
                    .read()
                    .iter()
                    .map(|(k, v)| (Value::string(k.as_str()), v.clone()))
                    .collect();
                Box::new(entries.into_iter())
            }
            Value::Int(n) => {
                if branch.pipe.decl.len() > 1 {
                    let message = format!("can't use {n} to iterate over more than one variable");
                    return Err(self.error(message).into());
                }
                Box::new((0..*n).map(|i| (Value::Int(i), Value::Int(i))))
            }
            Value::Nil => Box::new(std::iter::empty()),
            Value::Object(object) if object.entries().is_some() => {
                Box::new(object.keyed_entries().unwrap_or_default().into_iter())
            }
            other => {
                return Err(self
                    .error(format!("range can't iterate over {other}"))
                    .into());
            }
        };
        let mut items = items.peekable();
        let mut result = Ok(());
        if items.peek().is_none()
            && let Some(else_list) = &branch.else_list
        {
            result = self.walk(out, else_list, dot);
        }
        for (key, item) in items {
            if let Err(e) = self.step() {
                result = Err(e);
                break;
            }
            match branch.pipe.decl.as_slice() {
                [] => {}
                [elem] => self.set_var(elem, item.clone()),
                [index, elem, ..] => {
                    self.set_var(index, key);
                    self.set_var(elem, item.clone());
                }
            }
            let inner = self.vars.len();
            let step = self.walk(out, &branch.list, &item);
            self.vars.truncate(inner);
            match step {
                Ok(()) | Err(Stop::Continue) => {}
                Err(Stop::Break) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.vars.truncate(mark);
        result
    }

    /// Sets the newest variable of that name (declared by the pipeline, or assigned with `=`).
    fn set_var(&mut self, name: &str, value: Value) {
        if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            slot.1 = value;
        }
    }

    fn pipeline(&mut self, dot: &Value, pipe: &Pipe) -> Walk<Value> {
        stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || self.pipeline_value(dot, pipe))
    }

    fn pipeline_value(&mut self, dot: &Value, pipe: &Pipe) -> Walk<Value> {
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(dot, cmd, value)?);
        }
        let value = value.unwrap_or_default();
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone());
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn command(&mut self, dot: &Value, cmd: &Command, piped: Option<Value>) -> Walk<Value> {
        let first = &cmd.args[0];
        let args = &cmd.args[1..];
        match first {
            Arg::Field { pos, names } => {
                self.at(*pos, first);
                self.field_chain(dot, dot.clone(), names, cmd, args, piped)
            }
            Arg::Chain { node, fields, .. } => {
                let receiver = self.arg(dot, node)?;
                self.field_chain(dot, receiver, fields, cmd, args, piped)
            }
            Arg::Identifier { pos, name } => self.function(dot, *pos, name, cmd, args, piped),
            Arg::Variable { pos, names } => {
                self.at(*pos, first);
                let value = self.variable(&names[0])?;
                if names.len() == 1 {
                    self.not_a_function(first, args, &piped)?;
                    return Ok(value);
                }
                self.field_chain(dot, value, &names[1..], cmd, args, piped)
            }
            Arg::Pipe(pipe) => {
                self.not_a_function(first, args, &piped)?;
                self.pipeline(dot, pipe)
            }
            _ => {
                self.not_a_function(first, args, &piped)?;
                self.at(first.pos(), first);
                match first {
                    Arg::Nil(_) => Err(self.error("nil is not a command").into()),
                    _ => self.arg(dot, first),
                }
            }
        }
    }

    fn not_a_function(&mut self, first: &Arg, args: &[Arg], piped: &Option<Value>) -> Walk<()> {
        if !args.is_empty() || piped.is_some() {
            self.at(first.pos(), first);
            return Err(self
                .error(format!("can't give argument to non-function {first}"))
                .into());
        }
        Ok(())
    }

    fn variable(&self, name: &str) -> Walk<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, value)) => Ok(value.clone()),
            None => Err(self.error(format!("undefined variable: {name}")).into()),
        }
    }

    /// `receiver.a.b.c args…`: every link but the last is a field or an argument-less
    /// method; the last gets the arguments. A nil met inside the chain is an error, a nil
    /// receiver to start with is not (it gives nil, as Go's invalid value does).
    fn field_chain(
        &mut self,
        dot: &Value,
        mut receiver: Value,
        names: &[String],
        cmd: &Command,
        args: &[Arg],
        piped: Option<Value>,
    ) -> Walk<Value> {
        if matches!(receiver, Value::Nil) {
            return Ok(Value::Nil);
        }
        let last = names.len() - 1;
        let mut through_map = false;
        for (i, name) in names.iter().enumerate() {
            if i > 0 && matches!(receiver, Value::Nil) {
                return Err(self
                    .error(format!("nil pointer evaluating interface {{}}.{name}"))
                    .into());
            }
            let (call_args, call_piped) = if i == last {
                (args, piped.clone())
            } else {
                (&[][..], None)
            };
            let next_through_map = matches!(receiver, Value::Map(_));
            receiver = self.field(dot, receiver, name, cmd, call_args, call_piped, through_map)?;
            through_map = next_through_map;
        }
        Ok(receiver)
    }

    /// One link of a chain. `through_map` says the receiver was read from a map, where Go
    /// only knows it as `interface {}`.
    #[allow(clippy::too_many_arguments)]
    fn field(
        &mut self,
        dot: &Value,
        receiver: Value,
        name: &str,
        cmd: &Command,
        args: &[Arg],
        piped: Option<Value>,
        through_map: bool,
    ) -> Walk<Value> {
        let type_name = if through_map {
            "interface {}".to_string()
        } else {
            receiver.type_name()
        };
        let has_args = !args.is_empty() || piped.is_some();
        match &receiver {
            Value::Map(map) => {
                if has_args {
                    return Err(self
                        .error(format!("{name} is not a method but has arguments"))
                        .into());
                }
                Ok(map.get(name).unwrap_or_default())
            }
            Value::Object(object) => {
                let object = Arc::clone(object);
                if !has_args && let Some(value) = object.field(name) {
                    return Ok(value);
                }
                let mut values = Vec::with_capacity(args.len() + 1);
                for arg in args {
                    values.push(self.arg(dot, arg)?);
                }
                values.extend(piped);
                match object.call(name, &values) {
                    Some(Ok(value)) => Ok(value),
                    Some(Err(message)) => {
                        self.at(cmd.pos, cmd);
                        Err(self
                            .error_caused(
                                format!("error calling {name}: {message}"),
                                Cause::Plain(message),
                            )
                            .into())
                    }
                    None if object.field(name).is_some() => Err(self
                        .error(format!(
                            "{name} has arguments but cannot be invoked as function"
                        ))
                        .into()),
                    None => Err(self
                        .error(format!("can't evaluate field {name} in type {type_name}"))
                        .into()),
                }
            }
            Value::Nil => Err(self
                .error(format!("nil pointer evaluating interface {{}}.{name}"))
                .into()),
            _ => Err(self
                .error(format!("can't evaluate field {name} in type {type_name}"))
                .into()),
        }
    }

    fn arg(&mut self, dot: &Value, arg: &Arg) -> Walk<Value> {
        stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || self.arg_value(dot, arg))
    }

    fn arg_value(&mut self, dot: &Value, arg: &Arg) -> Walk<Value> {
        self.at(arg.pos(), arg);
        match arg {
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => Ok(Value::Nil),
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::Str { value, .. } => Ok(Value::String(Arc::clone(value))),
            Arg::Number { value, text, .. } => match value {
                Number::Int(i) => Ok(Value::Int(*i)),
                Number::Float(f) => Ok(Value::Float(*f)),
                Number::Overflow => Err(self.error(format!("{text} overflows int")).into()),
            },
            Arg::Field { names, .. } => {
                let cmd = Command {
                    pos: arg.pos(),
                    args: vec![arg.clone()],
                };
                self.field_chain(dot, dot.clone(), names, &cmd, &[], None)
            }
            Arg::Variable { names, .. } => {
                let value = self.variable(&names[0])?;
                if names.len() == 1 {
                    return Ok(value);
                }
                let cmd = Command {
                    pos: arg.pos(),
                    args: vec![arg.clone()],
                };
                self.field_chain(dot, value, &names[1..], &cmd, &[], None)
            }
            Arg::Chain { node, fields, .. } => {
                if matches!(node.as_ref(), Arg::Nil(_)) {
                    return Err(self
                        .error(format!("indirection through explicit nil in {arg}"))
                        .into());
                }
                let receiver = self.arg(dot, node)?;
                let cmd = Command {
                    pos: arg.pos(),
                    args: vec![arg.clone()],
                };
                self.field_chain(dot, receiver, fields, &cmd, &[], None)
            }
            Arg::Pipe(pipe) => {
                let mark = self.vars.len();
                let value = self.pipeline(dot, pipe);
                self.vars.truncate(mark);
                value
            }
            Arg::Identifier { pos, name } => {
                let cmd = Command {
                    pos: *pos,
                    args: vec![arg.clone()],
                };
                self.function(dot, *pos, name, &cmd, &[], None)
            }
        }
    }

    fn function(
        &mut self,
        dot: &Value,
        pos: usize,
        name: &str,
        cmd: &Command,
        args: &[Arg],
        piped: Option<Value>,
    ) -> Walk<Value> {
        self.at(pos, &name);
        if name == "and" || name == "or" {
            return self.and_or(dot, name == "and", args, piped);
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        for arg in args {
            values.push(self.arg(dot, arg)?);
        }
        values.extend(piped);
        let result = if let Some(builtin) = builtins::lookup(name) {
            builtin(&values)
        } else if let Some(func) = self.set.func(name) {
            let func = Arc::clone(func);
            func(&values)
        } else if let Some(func) = self.set.engine_func(name) {
            let func = Arc::clone(func);
            func(self, &values)
        } else {
            return Err(self
                .error(format!("{name:?} is not a defined function"))
                .into());
        };
        result.map_err(|e| {
            match e {
                FuncError::Args(message) => {
                    let message = self.argument_error(pos, name, args, &values, message);
                    self.error(message)
                }
                FuncError::Call(message) => {
                    self.at(cmd.pos, cmd);
                    self.error_caused(
                        format!("error calling {name}: {message}"),
                        Cause::Plain(message),
                    )
                }
                FuncError::Exec(inner) => {
                    self.at(cmd.pos, cmd);
                    self.error_caused(format!("error calling {name}: {inner}"), Cause::Exec(inner))
                }
            }
            .into()
        })
    }

    /// Go checks argument counts before evaluating the arguments and types argument by
    /// argument, where a literal of the wrong type reads `expected string; found 3`: the
    /// function's complaint is placed (and, for literals, worded) accordingly.
    fn argument_error(
        &mut self,
        pos: usize,
        name: &str,
        args: &[Arg],
        values: &[Value],
        message: String,
    ) -> String {
        if message.starts_with("wrong number of args") {
            self.at(pos, &name);
            return message;
        }
        let Some(rest) = message.strip_prefix("wrong type for value; expected ") else {
            return message;
        };
        let Some((expected, got)) = rest.split_once("; got ") else {
            return message;
        };
        let Some(index) = values.iter().position(|v| v.type_name() == got) else {
            return message;
        };
        let Some(arg) = args.get(index) else {
            return message;
        };
        self.at(arg.pos(), arg);
        match arg {
            Arg::Number { .. } | Arg::Bool(..) | Arg::Str { .. } => {
                format!("expected {expected}; found {arg}")
            }
            Arg::Nil(_) => format!("cannot assign nil to {expected}"),
            _ => message,
        }
    }

    fn and_or(
        &mut self,
        dot: &Value,
        is_and: bool,
        args: &[Arg],
        piped: Option<Value>,
    ) -> Walk<Value> {
        let name = if is_and { "and" } else { "or" };
        if args.is_empty() && piped.is_none() {
            return Err(self
                .error(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                ))
                .into());
        }
        let mut last = Value::Nil;
        for arg in args {
            last = self.arg(dot, arg)?;
            if last.truthy() != is_and {
                return Ok(last);
            }
        }
        if let Some(piped) = piped {
            last = piped;
        }
        Ok(last)
    }
}

/// An action's value as Go prints it: nil as `<no value>`, everything else as `%v`.
fn print_value(out: &mut String, value: &Value) {
    use std::fmt::Write as _;
    match value {
        Value::Nil => out.push_str("<no value>"),
        Value::String(s) => out.push_str(s),
        other => {
            let _ = write!(out, "{other}");
        }
    }
}
