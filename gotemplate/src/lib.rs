//! Go's `text/template`, as Helm runs it: the same parse rules, execution semantics, printing
//! and error messages, over [`Value`]s.
//!
//! Written here rather than taken from a crate: the Rust ports at hand cannot call methods
//! with arguments on data values (`.Files.Get "x"`), print floats as Go does (`1e+06`), or
//! report a nil intermediate field as Go does, and all three decide what real charts render.

mod builtins;
mod exec;
mod fmt;
mod lex;
mod parse;
mod value;

pub use exec::{Cause, Exec, ExecError, TextError};
pub use fmt::{quote, sprint, sprintf};
pub use parse::ParseError;
pub use value::{Map, MapRef, Object, Value, format_float};

pub use parse::Tree;

use std::collections::HashMap;
use std::sync::Arc;

/// Why a function call failed. Go reports bad arguments as they are and wraps what the
/// function itself returned in `error calling <name>: …`.
#[derive(Debug, Clone, PartialEq)]
pub enum FuncError {
    /// Wrong argument count or type, e.g. `wrong type for value; expected string; got int`.
    Args(String),
    /// The function ran and returned an error.
    Call(String),
    /// The function executed a template, which failed (`include`): Go keeps that error
    /// in the chain, so callers can walk it.
    Exec(Box<ExecError>),
}

pub type FuncResult = Result<Value, FuncError>;

/// A function the template can call, with its arguments evaluated (a piped value last).
pub type Func = Arc<dyn Fn(&[Value]) -> FuncResult + Send + Sync>;

/// Functions by name.
pub type Funcs = HashMap<String, Func>;

/// A function that runs templates itself (Helm's `include` and `tpl`).
pub type EngineFunc = Arc<dyn Fn(&mut Exec<'_>, &[Value]) -> FuncResult + Send + Sync>;

/// Templates by name, and the functions they may call: Go's `*template.Template` family.
#[derive(Clone, Default)]
pub struct Set {
    trees: HashMap<String, Arc<Tree>>,
    // Shared: Helm's `tpl` copies the set on every call, and the functions never change
    // after setup.
    funcs: Arc<Funcs>,
    engine_funcs: Arc<HashMap<String, EngineFunc>>,
}

impl Set {
    pub fn new() -> Self {
        Set::default()
    }

    /// Makes `funcs` callable; templates parsed afterwards may use them.
    pub fn add_funcs(&mut self, funcs: Funcs) {
        Arc::make_mut(&mut self.funcs).extend(funcs);
    }

    pub fn add_engine_func(&mut self, name: &str, func: EngineFunc) {
        Arc::make_mut(&mut self.engine_funcs).insert(name.to_string(), func);
    }

    /// Parses `text` as the template `name`, adding it and its `define`s, and returns its
    /// own body. As in Go, a later definition replaces an earlier one, except that an empty
    /// body never replaces one.
    pub fn parse(&mut self, name: &str, text: &str) -> Result<Arc<Tree>, ParseError> {
        let is_function = |f: &str| {
            builtins::is_builtin(f)
                || self.funcs.contains_key(f)
                || self.engine_funcs.contains_key(f)
        };
        let parsed = parse::parse(name, text, &is_function)?;
        let mut trees = parsed.trees.into_iter().map(Arc::new);
        let main = trees
            .next()
            .expect("a parse gives the text's own tree first");
        for tree in std::iter::once(Arc::clone(&main)).chain(trees) {
            if self.trees.contains_key(&tree.name) && is_empty(&tree.root) {
                continue;
            }
            self.trees.insert(tree.name.clone(), tree);
        }
        Ok(main)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// Executes the template `name` with `data` as dot.
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, ExecError> {
        let mut out = String::new();
        Exec::new(self).execute(name, data, &mut out)?;
        Ok(out)
    }

    /// Executes as [`Set::execute`], stopping with an error after `steps` nodes and range
    /// iterations, so untrusted templates cannot run forever.
    pub fn execute_bounded(
        &self,
        name: &str,
        data: &Value,
        steps: u64,
    ) -> Result<String, ExecError> {
        let mut out = String::new();
        let mut exec = Exec::new(self);
        exec.steps_left = Some(steps);
        exec.execute(name, data, &mut out)?;
        Ok(out)
    }

    fn tree(&self, name: &str) -> Option<&Arc<Tree>> {
        self.trees.get(name)
    }

    fn func(&self, name: &str) -> Option<&Func> {
        self.funcs.get(name)
    }

    fn engine_func(&self, name: &str) -> Option<&EngineFunc> {
        self.engine_funcs.get(name)
    }
}

/// Go's `parse.IsEmptyTree`: nothing but white space.
pub(crate) fn is_empty(list: &parse::List) -> bool {
    list.iter()
        .all(|node| matches!(node, parse::Node::Text(text) if text.trim().is_empty()))
}
