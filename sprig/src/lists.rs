//! List functions. Sprig reaches list elements through reflection, so any Go slice works
//! (here lists and byte slices); for other kinds the `must` variants return an error and the
//! others panic with the same text, which in a template is the same failure.

use gotemplate::{FuncError, FuncResult, Funcs, Value};

use crate::args::{Arity::*, call_error, int, register as add, string_list};
use crate::conv::{is_empty, slice_items, strval, to_int64};
use crate::strings::strslice;

pub(crate) fn register(funcs: &mut Funcs) {
    add(funcs, "list", AtLeast(0), |a| Ok(Value::list(a.to_vec())));
    add(funcs, "tuple", AtLeast(0), |a| Ok(Value::list(a.to_vec())));
    for name in ["append", "push", "mustAppend", "mustPush"] {
        add(funcs, name, Exact(2), push);
    }
    for name in ["prepend", "mustPrepend"] {
        add(funcs, name, Exact(2), prepend);
    }
    for name in ["first", "mustFirst"] {
        add(funcs, name, Exact(1), |a| {
            Ok(items(&a[0], "find first on")?
                .first()
                .cloned()
                .unwrap_or(Value::Nil))
        });
    }
    for name in ["last", "mustLast"] {
        add(funcs, name, Exact(1), |a| {
            Ok(items(&a[0], "find last on")?
                .last()
                .cloned()
                .unwrap_or(Value::Nil))
        });
    }
    for name in ["rest", "mustRest"] {
        add(funcs, name, Exact(1), |a| {
            let items = items(&a[0], "find rest on")?;
            Ok(Value::list(items.get(1..).unwrap_or_default().to_vec()))
        });
    }
    for name in ["initial", "mustInitial"] {
        add(funcs, name, Exact(1), |a| {
            let items = items(&a[0], "find initial on")?;
            Ok(Value::list(items[..items.len().saturating_sub(1)].to_vec()))
        });
    }
    for name in ["reverse", "mustReverse"] {
        add(funcs, name, Exact(1), |a| {
            let mut items = items(&a[0], "find reverse on")?;
            items.reverse();
            Ok(Value::list(items))
        });
    }
    for name in ["uniq", "mustUniq"] {
        add(funcs, name, Exact(1), uniq);
    }
    for name in ["without", "mustWithout"] {
        add(funcs, name, AtLeast(1), |a| {
            let kept = items(&a[0], "find without on")?
                .into_iter()
                .filter(|item| !a[1..].contains(item));
            Ok(Value::list(kept.collect()))
        });
    }
    for name in ["has", "mustHas"] {
        add(funcs, name, Exact(2), has);
    }
    for name in ["compact", "mustCompact"] {
        add(funcs, name, Exact(1), |a| {
            let kept = items(&a[0], "compact on")?
                .into_iter()
                .filter(|item| !is_empty(item));
            Ok(Value::list(kept.collect()))
        });
    }
    for name in ["chunk", "mustChunk"] {
        add(funcs, name, Exact(2), chunk);
    }
    for name in ["slice", "mustSlice"] {
        add(funcs, name, AtLeast(1), slice);
    }
    add(funcs, "concat", AtLeast(0), concat);
    add(funcs, "sortAlpha", Exact(1), sort_alpha);
}

/// The elements of a Go slice, or the error sprig gives for `what` on another kind; nil has
/// no type at all, and sprig's `reflect.TypeOf(nil).Kind()` dereferences nil.
fn items(value: &Value, what: &str) -> Result<Vec<Value>, FuncError> {
    slice_items(value)
        .ok_or_else(|| not_a_list(value, &format!("Cannot {what} type {}", value.kind())))
}

fn not_a_list(value: &Value, message: &str) -> FuncError {
    match value {
        Value::Nil => {
            call_error("runtime error: invalid memory address or nil pointer dereference")
        }
        _ => call_error(message),
    }
}

fn push(a: &[Value]) -> FuncResult {
    let mut items = items(&a[0], "push on")?;
    items.push(a[1].clone());
    Ok(Value::list(items))
}

fn prepend(a: &[Value]) -> FuncResult {
    let mut items = items(&a[0], "prepend on")?;
    items.insert(0, a[1].clone());
    Ok(Value::list(items))
}

fn uniq(a: &[Value]) -> FuncResult {
    let mut unique: Vec<Value> = Vec::new();
    for item in items(&a[0], "find uniq on")? {
        if !unique.contains(&item) {
            unique.push(item);
        }
    }
    Ok(Value::list(unique))
}

fn has(a: &[Value]) -> FuncResult {
    if matches!(a[1], Value::Nil) {
        return Ok(Value::Bool(false));
    }
    Ok(Value::Bool(items(&a[1], "find has on")?.contains(&a[0])))
}

/// Groups of `size`, the last one shorter.
fn chunk(a: &[Value]) -> FuncResult {
    let size = int(&a[0])?;
    let items = items(&a[1], "chunk")?;
    if items.is_empty() {
        return Ok(Value::list(Vec::new()));
    }
    let size = usize::try_from(size)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| call_error("runtime error: makeslice: len out of range"))?;
    Ok(Value::list(
        items
            .chunks(size)
            .map(|group| Value::list(group.to_vec()))
            .collect(),
    ))
}

/// Sprig's `slice list [start [end]]`, indices converted as `cast.ToInt` does.
fn slice(a: &[Value]) -> FuncResult {
    let list = &a[0];
    let message = format!("list should be type of slice or array but {}", list.kind());
    let items = slice_items(list).ok_or_else(|| not_a_list(list, &message))?;
    if items.is_empty() {
        return Ok(Value::Nil);
    }
    let start = a.get(1).map_or(0, to_int64);
    let end = a.get(2).map_or(items.len() as i64, to_int64);
    if start < 0 || end < start || end > items.len() as i64 {
        return Err(call_error("reflect: slice index out of range"));
    }
    let (start, end) = (start as usize, end as usize);
    Ok(match list {
        Value::Bytes(bytes) => Value::Bytes(bytes[start..end].to_vec().into()),
        _ => Value::list(items[start..end].to_vec()),
    })
}

fn concat(a: &[Value]) -> FuncResult {
    let mut joined = Vec::new();
    for list in a {
        let message = format!("Cannot concat type {} as list", list.kind());
        joined.extend(slice_items(list).ok_or_else(|| not_a_list(list, &message))?);
    }
    Ok(Value::list(joined))
}

/// The items as text, sorted; anything but a list becomes a one-item list of its text.
fn sort_alpha(a: &[Value]) -> FuncResult {
    if slice_items(&a[0]).is_none() {
        return Ok(string_list([strval(&a[0])]));
    }
    let mut texts = strslice(&a[0]);
    texts.sort();
    Ok(string_list(texts))
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use gotemplate::Value;

    fn abc() -> Value {
        list(vec![s("a"), s("b"), s("c")])
    }

    #[test]
    fn building_lists() {
        assert_eq!(out("list", &[i(1), s("a")]), "[1 a]");
        assert_eq!(out("append", &[abc(), s("d")]), "[a b c d]");
        assert_eq!(out("prepend", &[abc(), s("z")]), "[z a b c]");
        assert_eq!(
            out("concat", &[abc(), list(vec![i(1)]), list(vec![])]),
            "[a b c 1]"
        );
        assert_eq!(
            call_err("append", &[s("x"), s("d")]),
            "Cannot push on type string"
        );
        assert_eq!(
            call_err("mustPrepend", &[map(&[]), s("d")]),
            "Cannot prepend on type map"
        );
        assert_eq!(
            call_err("concat", &[abc(), f(1.0)]),
            "Cannot concat type float64 as list"
        );
        assert_eq!(
            call_err("first", &[Value::Nil]),
            "runtime error: invalid memory address or nil pointer dereference"
        );
    }

    #[test]
    fn picking_from_lists() {
        assert_eq!(out("first", &[abc()]), "a");
        assert_eq!(out("last", &[abc()]), "c");
        assert_eq!(ok("first", &[list(vec![])]), Value::Nil);
        assert_eq!(out("rest", &[abc()]), "[b c]");
        assert_eq!(out("initial", &[abc()]), "[a b]");
        assert_eq!(out("rest", &[list(vec![])]), "[]");
        assert_eq!(out("reverse", &[abc()]), "[c b a]");
        assert_eq!(
            call_err("first", &[s("abc")]),
            "Cannot find first on type string"
        );
        assert_eq!(
            call_err("mustLast", &[i(1)]),
            "Cannot find last on type int"
        );
    }

    #[test]
    fn filtering_lists() {
        assert_eq!(
            out("uniq", &[list(vec![i(1), i(2), i(1), f(1.0), s("1")])]),
            "[1 2 1 1]"
        );
        assert_eq!(
            out("without", &[list(vec![i(1), i(2), i(3), i(4)]), i(1), i(3)]),
            "[2 4]"
        );
        assert_eq!(
            out(
                "compact",
                &[list(vec![
                    i(1),
                    s(""),
                    Value::Nil,
                    i(0),
                    s("a"),
                    list(vec![])
                ])]
            ),
            "[1 a]"
        );
        assert_eq!(out("has", &[i(4), list(vec![i(1), i(4)])]), "true");
        assert_eq!(out("has", &[f(4.0), list(vec![i(1), i(4)])]), "false");
        assert_eq!(out("has", &[i(4), Value::Nil]), "false");
        assert_eq!(
            call_err("mustHas", &[i(4), s("x")]),
            "Cannot find has on type string"
        );
    }

    #[test]
    fn chunks_slices_and_sorting() {
        let seven: Vec<Value> = (1..=7).map(i).collect();
        assert_eq!(out("chunk", &[i(3), list(seven)]), "[[1 2 3] [4 5 6] [7]]");
        assert_eq!(out("chunk", &[i(2), list(vec![])]), "[]");
        assert_eq!(out("slice", &[abc(), i(1)]), "[b c]");
        assert_eq!(out("slice", &[abc(), i(1), i(2)]), "[b]");
        assert_eq!(out("slice", &[abc(), s("0"), f(2.0)]), "[a b]");
        assert_eq!(ok("slice", &[list(vec![])]), Value::Nil);
        assert_eq!(
            call_err("slice", &[s("abc"), i(1)]),
            "list should be type of slice or array but string"
        );
        assert_eq!(
            out("sortAlpha", &[list(vec![s("c"), i(10), s("a"), i(2)])]),
            "[10 2 a c]"
        );
        assert_eq!(out("sortAlpha", &[s("x")]), "[x]");
    }
}
