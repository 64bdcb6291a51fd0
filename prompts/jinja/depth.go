package jinja

import "sync/atomic"

// maxExprDepth bounds the depth of a parsed expression tree. Chains such as
// a.b.c…, a[0][0]…, a+b+c… or a|f|f… are parsed by loops, not recursion, so
// the parser's nesting limit does not bound them; the passes after parsing
// and the renderer recurse by tree depth. The renderer refuses expressions
// this deep anyway (Limits.MaxDepth*50 by default), and Jinja2's Python
// code generator fails far earlier.
const maxExprDepth = 10000

// parseWork counts tokens consumed and nodes visited by the passes after
// parsing, so tests can check that the work grows linearly with the input.
var parseWork atomic.Int64

// checkDepth rejects expressions deeper than maxExprDepth. It visits each
// node at most once and stops descending at the limit, so it is linear in
// the template and never recurses deeper than the limit.
func checkDepth(name string, body []node) error {
	var walk func(e expr, d int) error
	walk = func(e expr, d int) error {
		parseWork.Add(1)
		if e == nil {
			return nil
		}
		if d > maxExprDepth {
			return &Error{Name: name, Line: e.lineNo(), Msg: "expression nested too deeply"}
		}
		var kids []expr
		switch x := e.(type) {
		case *attrExpr:
			kids = []expr{x.obj}
		case *itemExpr:
			kids = []expr{x.obj, x.key}
		case *sliceExpr:
			kids = []expr{x.obj, x.lo, x.hi, x.step}
		case *callExpr:
			kids = append([]expr{x.fn, x.star, x.dstar}, x.args...)
			for _, k := range x.kwargs {
				kids = append(kids, k.e)
			}
		case *filterExpr:
			kids = append([]expr{x.x}, x.args...)
			for _, k := range x.kwargs {
				kids = append(kids, k.e)
			}
		case *testExpr:
			kids = append([]expr{x.x}, x.args...)
			for _, k := range x.kwargs {
				kids = append(kids, k.e)
			}
		case *binExpr:
			kids = []expr{x.l, x.r}
		case *unaryExpr:
			kids = []expr{x.x}
		case *compareExpr:
			kids = append([]expr{x.first}, x.rest...)
		case *condExpr:
			kids = []expr{x.test, x.yes, x.no}
		case *listExpr:
			kids = x.items
		case *dictExpr:
			kids = append(append([]expr{}, x.keys...), x.vals...)
		case *foldExpr:
			kids = []expr{x.x}
		}
		for _, k := range kids {
			if err := walk(k, d+1); err != nil {
				return err
			}
		}
		return nil
	}
	var stmts func(body []node) error
	stmts = func(body []node) error {
		for _, n := range body {
			var es []expr
			var subs [][]node
			switch n := n.(type) {
			case *outputNode:
				es = []expr{n.e}
			case *ifNode:
				es = n.conds
				subs = append(append(subs, n.bodies...), n.els)
			case *forNode:
				es = []expr{n.iter, n.cond}
				subs = [][]node{n.body, n.els}
			case *setNode:
				es = []expr{n.e}
			case *setBlockNode:
				for _, f := range n.filters {
					es = append(es, f)
				}
				subs = [][]node{n.body}
			case *macroNode:
				es = n.defaults
				subs = [][]node{n.body}
			case *callBlockNode:
				es = append([]expr{n.call}, n.defaults...)
				subs = [][]node{n.body}
			case *filterBlockNode:
				for _, f := range n.filters {
					es = append(es, f)
				}
				subs = [][]node{n.body}
			case *withNode:
				es = n.vals
				subs = [][]node{n.body}
			}
			for _, e := range es {
				if err := walk(e, 1); err != nil {
					return err
				}
			}
			for _, s := range subs {
				if err := stmts(s); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return stmts(body)
}
