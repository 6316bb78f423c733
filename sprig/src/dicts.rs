//! Dictionary functions. Maps are shared references as in Go, so `set`, `unset` and the
//! `merge` family change the map they are given (and return it).

use gotemplate::{FuncError, FuncResult, Funcs, Map, MapRef, Value};

use crate::args::{
    Arity::*, call_error, dict, entries, register as add, string, string_list, text,
};
use crate::conv::{is_empty, strval};

pub(crate) fn register(funcs: &mut Funcs) {
    add(funcs, "dict", AtLeast(0), make_dict);
    add(funcs, "get", Exact(2), |a| {
        let (map, key) = (dict(&a[0])?, string(&a[1])?);
        Ok(map.and_then(|m| m.get(key)).unwrap_or_else(|| text("")))
    });
    add(funcs, "set", Exact(3), set);
    add(funcs, "unset", Exact(2), |a| {
        let (map, key) = (dict(&a[0])?, string(&a[1])?);
        if let Some(map) = map {
            map.write().remove(key);
        }
        Ok(a[0].clone())
    });
    add(funcs, "hasKey", Exact(2), |a| {
        let (map, key) = (dict(&a[0])?, string(&a[1])?);
        Ok(Value::Bool(map.is_some_and(|m| m.read().contains_key(key))))
    });
    add(funcs, "pluck", AtLeast(1), pluck);
    add(funcs, "keys", AtLeast(0), keys);
    add(funcs, "pick", AtLeast(1), |a| {
        let map = entries(&a[0])?;
        let mut picked = Map::new();
        for key in &a[1..] {
            let key = string(key)?;
            if let Some(value) = map.get(key) {
                picked.insert(key.to_string(), value.clone());
            }
        }
        Ok(Value::map(picked))
    });
    add(funcs, "omit", AtLeast(1), |a| {
        let mut map = entries(&a[0])?;
        for key in &a[1..] {
            map.remove(string(key)?);
        }
        Ok(Value::map(map))
    });
    add(funcs, "values", Exact(1), |a| {
        Ok(Value::list(entries(&a[0])?.into_values().collect()))
    });
    for name in ["merge", "mustMerge"] {
        add(funcs, name, AtLeast(1), |a| merge(a, false));
    }
    for name in ["mergeOverwrite", "mustMergeOverwrite"] {
        add(funcs, name, AtLeast(1), |a| merge(a, true));
    }
    for name in ["deepCopy", "mustDeepCopy"] {
        add(funcs, name, Exact(1), |a| Ok(deep_copy(&a[0])));
    }
    add(funcs, "dig", AtLeast(0), dig);
}

/// Keys and values alternating; keys as text, a missing last value as "".
fn make_dict(a: &[Value]) -> FuncResult {
    let map: Map = a
        .chunks(2)
        .map(|pair| {
            (
                strval(&pair[0]),
                pair.get(1).cloned().unwrap_or_else(|| text("")),
            )
        })
        .collect();
    Ok(Value::map(map))
}

fn set(a: &[Value]) -> FuncResult {
    let (map, key) = (dict(&a[0])?, string(&a[1])?);
    let map = map.ok_or_else(|| call_error("assignment to entry in nil map"))?;
    map.write().insert(key.to_string(), a[2].clone());
    Ok(a[0].clone())
}

fn pluck(a: &[Value]) -> FuncResult {
    let key = string(&a[0])?;
    let mut found = Vec::new();
    for map in &a[1..] {
        if let Some(value) = dict(map)?.and_then(|m| m.get(key)) {
            found.push(value);
        }
    }
    Ok(Value::list(found))
}

/// The keys of every map in turn (Go's order is random; here each map's are sorted).
fn keys(a: &[Value]) -> FuncResult {
    let mut all = Vec::new();
    for map in a {
        all.extend(entries(map)?.into_keys());
    }
    Ok(string_list(all))
}

/// Merges each later map into the first, which is changed and returned; a nil first map
/// gets a new one, as mergo gives it.
fn merge(a: &[Value], overwrite: bool) -> FuncResult {
    let target = match dict(&a[0])? {
        Some(map) => map.clone(),
        None => MapRef::new(Map::new()),
    };
    for src in &a[1..] {
        if let Some(src) = dict(src)? {
            merge_maps(&target, src, overwrite);
        }
    }
    Ok(Value::Map(target))
}

/// dario.cat/mergo on `map[string]interface{}`: nested maps merge deeply (in place); otherwise
/// a value from `src` lands where `dst` has none or an empty one (nil, false, 0, "", empty
/// list or map), or everywhere with `overwrite`. A nil in `src` only lands with `overwrite`.
fn merge_maps(dst: &MapRef, src: &MapRef, overwrite: bool) {
    if dst.ptr_eq(src) {
        return;
    }
    // No lock is held across the recursion: the same map may sit on both sides.
    for (key, incoming) in src.to_map() {
        let merged = match (dst.get(&key), &incoming) {
            (_, Value::Nil) => overwrite.then_some(Value::Nil),
            (Some(Value::Map(current)), Value::Map(nested)) => {
                merge_maps(&current, nested, overwrite);
                None
            }
            (Some(current), _) if !overwrite && !is_empty(&current) => None,
            _ => Some(incoming),
        };
        if let Some(value) = merged {
            dst.write().insert(key, value);
        }
    }
}

/// copystructure's deep copy: maps (also inside lists) become new maps.
fn deep_copy(value: &Value) -> Value {
    match value {
        Value::Map(map) => Value::map(
            map.to_map()
                .iter()
                .map(|(k, v)| (k.clone(), deep_copy(v)))
                .collect(),
        ),
        Value::List(items) => Value::list(items.iter().map(deep_copy).collect()),
        other => other.clone(),
    }
}

/// `dig "a" "b" default dict`: the value at the key path, or the default where a key is
/// missing. Sprig type-asserts its arguments, so wrong types panic.
fn dig(a: &[Value]) -> FuncResult {
    if a.len() < 3 {
        return Err(call_error("dig needs at least three arguments"));
    }
    let default = &a[a.len() - 2];
    let mut current = assert_map(&a[a.len() - 1])?.clone();
    let path = &a[..a.len() - 2];
    for (i, key) in path.iter().enumerate() {
        let key = key
            .as_str()
            .ok_or_else(|| interface_conversion(key, "string"))?;
        let Some(step) = current.get(key) else {
            return Ok(default.clone());
        };
        if i + 1 == path.len() {
            return Ok(step);
        }
        current = assert_map(&step)?.clone();
    }
    Ok(default.clone())
}

fn assert_map(value: &Value) -> Result<&MapRef, FuncError> {
    match value {
        Value::Map(map) => Ok(map),
        other => Err(interface_conversion(other, "map[string]interface {}")),
    }
}

/// Go's panic for a failed type assertion on an `interface{}`.
fn interface_conversion(value: &Value, wanted: &str) -> FuncError {
    let actual = match value {
        Value::Nil => "nil".to_string(),
        other => other.type_name(),
    };
    call_error(format!(
        "interface conversion: interface {{}} is {actual}, not {wanted}"
    ))
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use gotemplate::Value;

    #[test]
    fn dict_get_set_unset() {
        assert_eq!(
            ok("dict", &[s("a"), i(1), i(2), s("b"), s("c")]),
            map(&[("a", i(1)), ("2", s("b")), ("c", s(""))])
        );
        let d = map(&[("a", i(1))]);
        assert_eq!(ok("get", &[d.clone(), s("a")]), i(1));
        assert_eq!(ok("get", &[d.clone(), s("z")]), s(""));
        assert_eq!(ok("get", &[Value::Nil, s("z")]), s(""));
        assert_eq!(out("hasKey", &[d.clone(), s("a")]), "true");
        assert_eq!(out("hasKey", &[d.clone(), s("b")]), "false");
        assert_eq!(out("hasKey", &[Value::Nil, s("b")]), "false");
        assert_eq!(
            call_err("set", &[Value::Nil, s("b"), i(2)]),
            "assignment to entry in nil map"
        );
        assert_eq!(
            args_err("get", &[s("x"), s("a")]),
            "wrong type for value; expected map[string]interface {}; got string"
        );
    }

    #[test]
    fn set_and_unset_change_the_shared_map_as_go_does() {
        let d = map(&[("a", i(1))]);
        let returned = ok("set", &[d.clone(), s("b"), i(2)]);
        assert_eq!(d, map(&[("a", i(1)), ("b", i(2))]));
        assert_eq!(returned, d);
        ok("unset", &[d.clone(), s("a")]);
        assert_eq!(d, map(&[("b", i(2))]));
    }

    #[test]
    fn merge_changes_the_first_map_and_deep_copy_detaches() {
        let inner = map(&[("x", i(1))]);
        let dst = map(&[("inner", inner.clone())]);
        ok(
            "merge",
            &[
                dst.clone(),
                map(&[("inner", map(&[("y", i(2))])), ("z", i(3))]),
            ],
        );
        assert_eq!(
            dst,
            map(&[("inner", map(&[("x", i(1)), ("y", i(2))])), ("z", i(3))])
        );
        assert_eq!(inner, map(&[("x", i(1)), ("y", i(2))]));
        assert_eq!(out("merge", &[Value::Nil, map(&[("k", i(1))])]), "map[k:1]");
        let same = map(&[("k", i(1))]);
        assert_eq!(out("mergeOverwrite", &[same.clone(), same]), "map[k:1]");
        let copy = ok("deepCopy", std::slice::from_ref(&dst));
        ok("set", &[copy.clone(), s("z"), i(4)]);
        assert_eq!(out("get", &[dst, s("z")]), "3");
        assert_eq!(out("get", &[copy, s("z")]), "4");
    }

    #[test]
    fn selecting_keys_and_values() {
        let d = map(&[("name1", s("v1")), ("name2", s("v2")), ("name3", s("v3"))]);
        assert_eq!(
            out("pick", &[d.clone(), s("name1"), s("name3"), s("nope")]),
            "map[name1:v1 name3:v3]"
        );
        assert_eq!(
            out("omit", &[d.clone(), s("name1"), s("name3")]),
            "map[name2:v2]"
        );
        assert_eq!(
            out("keys", &[d.clone(), map(&[("a", i(1))])]),
            "[name1 name2 name3 a]"
        );
        assert_eq!(out("values", std::slice::from_ref(&d)), "[v1 v2 v3]");
        assert_eq!(
            out(
                "pluck",
                &[s("name1"), d, map(&[("name1", s("x"))]), map(&[])]
            ),
            "[v1 x]"
        );
    }

    #[test]
    fn merge_fills_empty_keys_deeply() {
        let dst = map(&[
            ("a", s("keep")),
            ("empty", s("")),
            ("zero", f(0.0)),
            ("list", list(vec![i(1)])),
            ("nested", map(&[("x", i(1))])),
        ]);
        let src = map(&[
            ("a", s("new")),
            ("empty", s("filled")),
            ("zero", f(5.0)),
            ("list", list(vec![i(2)])),
            ("nested", map(&[("x", i(2)), ("y", i(3))])),
            ("extra", Value::Nil),
            ("added", Value::Bool(true)),
        ]);
        let want = map(&[
            ("a", s("keep")),
            ("added", Value::Bool(true)),
            ("empty", s("filled")),
            ("list", list(vec![i(1)])),
            ("nested", map(&[("x", i(1)), ("y", i(3))])),
            ("zero", f(5.0)),
        ]);
        assert_eq!(ok("merge", &[dst, src]), want);
    }

    #[test]
    fn merge_overwrite_replaces_deeply() {
        let dst = map(&[
            ("a", s("old")),
            ("list", list(vec![i(1)])),
            ("nested", map(&[("x", i(1)), ("z", i(0))])),
            ("gone", i(1)),
        ]);
        let src = map(&[
            ("a", s("")),
            ("list", list(vec![i(2)])),
            ("nested", map(&[("x", i(2))])),
            ("gone", Value::Nil),
        ]);
        let want = map(&[
            ("a", s("")),
            ("gone", Value::Nil),
            ("list", list(vec![i(2)])),
            ("nested", map(&[("x", i(2)), ("z", i(0))])),
        ]);
        assert_eq!(ok("mergeOverwrite", &[dst, src]), want);
        let maps = || {
            [
                map(&[("k", s("1"))]),
                map(&[("k", s("2"))]),
                map(&[("k", s("3"))]),
            ]
        };
        assert_eq!(out("mergeOverwrite", &maps()), "map[k:3]");
        assert_eq!(out("merge", &maps()), "map[k:1]");
    }

    #[test]
    fn dig_walks_paths() {
        let d = map(&[("a", map(&[("b", map(&[("c", s("found"))]))]))]);
        assert_eq!(
            out("dig", &[s("a"), s("b"), s("c"), s("def"), d.clone()]),
            "found"
        );
        assert_eq!(
            out("dig", &[s("a"), s("x"), s("c"), s("def"), d.clone()]),
            "def"
        );
        assert_eq!(
            call_err(
                "dig",
                &[s("a"), s("b"), s("c"), s("d"), s("def"), d.clone()]
            ),
            "interface conversion: interface {} is string, not map[string]interface {}"
        );
        assert_eq!(
            call_err("dig", &[s("a"), d.clone()]),
            "dig needs at least three arguments"
        );
        assert_eq!(
            call_err("dig", &[i(1), s("def"), d]),
            "interface conversion: interface {} is int, not string"
        );
    }
}
