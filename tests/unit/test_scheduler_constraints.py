"""Constraint parsing and matching, table by table."""

import pytest

from shoal.manager.scheduler import Constraint, ConstraintError, NodeSnapshot, parse_constraint
from tests.unit.conftest import node_snapshot


def make_node(**overrides: object) -> NodeSnapshot:
    return node_snapshot(**{"name": "worker-1", "hostname": "host-1.example",
                            "labels": {"zone": "eu-west", "disk": "ssd"}, "engine_labels": {"storage": "zfs"},
                            "memory": 8 << 30, **overrides})


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("node.id==n1", Constraint("node.id==n1", "node.id", False, False, "n1")),
        ("node.id!=n1", Constraint("node.id!=n1", "node.id", True, False, "n1")),
        ("node.id==~n1", Constraint("node.id==~n1", "node.id", False, True, "n1")),
        ("node.id!=~n1", Constraint("node.id!=~n1", "node.id", True, True, "n1")),
        ("node.name==w*", Constraint("node.name==w*", "node.name", False, False, "w*")),
        ("node.hostname==h?st", Constraint("node.hostname==h?st", "node.hostname", False, False, "h?st")),
        ("node.labels.zone==eu", Constraint("node.labels.zone==eu", "node.labels.zone", False, False, "eu")),
        ("engine.labels.storage!=zfs", Constraint("engine.labels.storage!=zfs", "engine.labels.storage", True, False, "zfs")),
        ("node.labels.zone==/eu-.*/", Constraint("node.labels.zone==/eu-.*/", "node.labels.zone", False, False, "/eu-.*/")),
        ("node.labels.rack==[ab]1", Constraint("node.labels.rack==[ab]1", "node.labels.rack", False, False, "[ab]1")),
        # Whitespace around the operator and value is allowed; text keeps the inner form.
        ("node.labels.zone == eu", Constraint("node.labels.zone == eu", "node.labels.zone", False, False, "eu")),
        ("  node.labels.zone !=~  eu  ", Constraint("node.labels.zone !=~  eu", "node.labels.zone", True, True, "eu")),
        ("\tnode.id==\tn1\n", Constraint("node.id==\tn1", "node.id", False, False, "n1")),
        # Swarm mode's value characters, and regex quantifiers inside /.../.
        ("node.labels.zone==/eu-[0-9]{2,3}/", Constraint("node.labels.zone==/eu-[0-9]{2,3}/", "node.labels.zone", False, False, "/eu-[0-9]{2,3}/")),
        ("node.labels.v==a:b (c)+^$|\\", Constraint("node.labels.v==a:b (c)+^$|\\", "node.labels.v", False, False, "a:b (c)+^$|\\")),
        # A lone slash is a literal, not a regex.
        ("node.labels.path==/", Constraint("node.labels.path==/", "node.labels.path", False, False, "/")),
        # Label names are free-form after the prefix.
        ("node.labels.com.example/team==core", Constraint("node.labels.com.example/team==core", "node.labels.com.example/team", False, False, "core")),
    ],
)
def test_parse(expr: str, expected: Constraint) -> None:
    assert parse_constraint(expr) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("node.labels.zone=eu", 'constraint "node.labels.zone=eu": expected KEY==VALUE, KEY!=VALUE, KEY==~VALUE or KEY!=~VALUE'),
        ("node.labels.zone=~eu", 'constraint "node.labels.zone=~eu": expected KEY==VALUE, KEY!=VALUE, KEY==~VALUE or KEY!=~VALUE'),
        ("", 'constraint "": expected KEY==VALUE, KEY!=VALUE, KEY==~VALUE or KEY!=~VALUE'),
        ("==eu", 'constraint "==eu": missing key before =='),
        ("  !=~ eu", 'constraint "!=~ eu": missing key before !=~'),
        ("node.labels.x==", 'constraint "node.labels.x==": missing value after == (matching an absent or empty label is not supported)'),
        ("node.labels.x !=~  ", 'constraint "node.labels.x !=~": missing value after !=~ (matching an absent or empty label is not supported)'),
        ("node.foo==x", 'constraint "node.foo==x": unknown key "node.foo"; valid keys are node.id, node.name, node.hostname, node.labels.<K>, engine.labels.<K>'),
        ("Node.ID==x", 'constraint "Node.ID==x": unknown key "Node.ID"; valid keys are node.id, node.name, node.hostname, node.labels.<K>, engine.labels.<K>'),
        ("node.labels==x", 'constraint "node.labels==x": unknown key "node.labels"; valid keys are node.id, node.name, node.hostname, node.labels.<K>, engine.labels.<K>'),
        ("node.labels.==x", 'constraint "node.labels.==x": missing label name after node.labels.'),
        ("engine.labels.!=x", 'constraint "engine.labels.!=x": missing label name after engine.labels.'),
        ("node.name==/[/", 'constraint "node.name==/[/": bad regex /[/: unterminated character set at position 0'),
        ("node.name==/a(/", 'constraint "node.name==/a(/": bad regex /a(/: missing ), unterminated subpattern at position 1'),
        ("node.name==//", 'constraint "node.name==//": empty regex //'),
        # A value holds no operator character (swarm mode's rule): "===" is not "==" with "= a".
        ("node.labels.zone === a", 'constraint "node.labels.zone === a": value "= a" holds "=", which a value may not (it may hold letters, digits, space and : - _ . * ( ) ? + [ ] \\ ^ $ | /)'),
        ("node.labels.zone!==a", 'constraint "node.labels.zone!==a": value "=a" holds "=", which a value may not (it may hold letters, digits, space and : - _ . * ( ) ? + [ ] \\ ^ $ | /)'),
        ("node.labels.zone==~~a", 'constraint "node.labels.zone==~~a": value "~a" holds "~", which a value may not (it may hold letters, digits, space and : - _ . * ( ) ? + [ ] \\ ^ $ | /)'),
        ("node.labels.expr==a!=b", 'constraint "node.labels.expr==a!=b": value "a!=b" holds "!", "=", which a value may not (it may hold letters, digits, space and : - _ . * ( ) ? + [ ] \\ ^ $ | /)'),
        ("node.labels.zone==<eu>", 'constraint "node.labels.zone==<eu>": value "<eu>" holds "<", ">", which a value may not (it may hold letters, digits, space and : - _ . * ( ) ? + [ ] \\ ^ $ | /)'),
        ("node.labels.x==a,b", 'constraint "node.labels.x==a,b": value "a,b" holds ",", which a value may not (it may hold letters, digits, space and : - _ . * ( ) ? + [ ] \\ ^ $ | /)'),
        ("node.labels.x==a\x07", 'constraint "node.labels.x==a\\x07": value "a\\x07" holds "\\x07", which a value may not (it may hold letters, digits, space and : - _ . * ( ) ? + [ ] \\ ^ $ | /)'),
        ("node.labels.zo ne==a", 'constraint "node.labels.zo ne==a": label name "zo ne" may hold only letters, digits, "_", ".", "/" and "-"'),
        # Control characters are escaped so the message stays on one line.
        ("node.nam\ne==x", 'constraint "node.nam\\ne==x": unknown key "node.nam\\ne"; valid keys are node.id, node.name, node.hostname, node.labels.<K>, engine.labels.<K>'),
    ],
)
def test_parse_errors(expr: str, message: str) -> None:
    with pytest.raises(ConstraintError) as caught:
        parse_constraint(expr)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_constraint_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_constraint("nonsense")


@pytest.mark.parametrize(
    ("expr", "node", "expected"),
    [
        ("node.id==n1", make_node(), True),
        ("node.id==n2", make_node(), False),
        ("node.id==N1", make_node(), False),  # literals are case-sensitive
        ("node.id!=n1", make_node(), False),
        ("node.id!=n2", make_node(), True),
        ("node.name==worker-1", make_node(), True),
        ("node.name==host-1.example", make_node(), False),  # name is not hostname
        ("node.hostname==host-1.example", make_node(), True),
        ("node.hostname==worker-1", make_node(), False),
        ("node.labels.zone==eu-west", make_node(), True),
        ("node.labels.zone==eu", make_node(), False),  # a literal matches whole values only
        ("node.labels.zone!=eu-west", make_node(), False),
        # An absent label is "": == never matches it, != always does.
        ("node.labels.zone==eu-west", make_node(labels={}), False),
        ("node.labels.zone!=eu-west", make_node(labels={}), True),
        ("node.labels.zone==*", make_node(labels={}), True),  # the glob * matches ""
        ("node.labels.zone==?*", make_node(labels={}), False),
        # engine labels and admin labels are separate namespaces.
        ("engine.labels.storage==zfs", make_node(), True),
        ("node.labels.storage==zfs", make_node(), False),
        ("engine.labels.zone==eu-west", make_node(), False),
        # globs
        ("node.labels.zone==eu-*", make_node(), True),
        ("node.labels.zone==us-*", make_node(), False),
        ("node.labels.zone!=eu-*", make_node(), False),
        ("node.name==worker-?", make_node(), True),
        ("node.name==worker-[0-9]", make_node(), True),
        ("node.name==worker-[!1]", make_node(), False),
        ("node.name==WORKER-*", make_node(), False),  # globs are case-sensitive too
        # regexes are full matches
        ("node.labels.zone==/eu-(west|east)/", make_node(), True),
        ("node.labels.zone==/eu/", make_node(), False),
        ("node.labels.zone==/.*west/", make_node(), True),
        ("node.labels.zone!=/eu-.*/", make_node(), False),
        ("node.labels.zone==/(?i)EU-WEST/", make_node(), True),
        ("node.hostname==/host-\\d+\\.example/", make_node(), True),
        ("node.labels.zone==/.*/", make_node(labels={}), True),
        # Soft constraints match exactly like hard ones; softness only matters to place().
        ("node.labels.zone==~eu-west", make_node(), True),
        ("node.labels.zone!=~eu-west", make_node(), False),
    ],
)
def test_matches(expr: str, node: NodeSnapshot, expected: bool) -> None:
    assert parse_constraint(expr).matches(node) is expected
