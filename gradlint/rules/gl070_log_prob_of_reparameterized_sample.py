from __future__ import annotations

import re

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import not_differentiated
from gradlint.engine.names import dotted, referenced_names
from gradlint.engine.syntax import argument, positional, small_statements
from gradlint.engine.walker import iter_children
from gradlint.rule import Rule, Severity
from gradlint.semantic.model import ModuleModel, Place

REPARAMETERIZED = api_table("sampling_reparameterized_sample")
WRAPPERS = api_table("sampling_reparameterized_wrappers")
RSAMPLE = api_table("sampling_rsample")
LOG_PROB = api_table("sampling_log_prob")
LEAVE_AUTOGRAD = api_table("sampling_leave_autograd")
TRANSPARENT = api_table("sampling_transparent")
SINKS = api_table("sampling_sinks")
LOCATION_SCALE = api_table("sampling_location_scale")

_TFP_MODULES = ("tensorflow_probability.distributions", "tensorflow_probability.python.distributions")
# What a log-probability is weighted by in a score-function (REINFORCE) estimator.
_REWARD = re.compile(
    r"^(?:rewards?|returns?|rets?|g|g_?t|r|r_?t|advantages?|advs?|adv_\w+|q_?values?|q_?vals?|"
    r"discounted\w*|\w*_returns?|\w*_rewards?|\w*_advantages?|\w*rewards_to_go|td_errors?|deltas?)$",
    re.I,
)
# Names saying that a log-probability of one's own sample is an entropy or KL estimate, or a
# temperature-weighted entropy term (SAC): there the pathwise gradient is the one wanted.
_ENTROPY_NAME = re.compile(r"entrop|^ent$|^ent_|_ent$|^h$|kl|elbo|diverg|alpha|temperature|^temp$|^tau$", re.I)
_ENTROPY_SCOPE = re.compile(r"entrop|kl|elbo|diverg", re.I)
_MAX_FLOW = 4
_SOURCE_CHARS = 48
# How to keep the score, by where the sample comes from.
_REMEDY = {
    "torch": "draw it with `.sample()` or `.detach()` it",
    "tensorflow_probability": "wrap the sample in `tf.stop_gradient`",
    "numpyro": "wrap the sample in `jax.lax.stop_gradient`",
}


class LogProbOfReparameterizedSample(Rule):
    """
    ## What it does
    Checks for `dist.log_prob(z)` where `z` is a reparameterised sample of the same
    distribution, `z = dist.rsample()` in `torch.distributions` or `z = dist.sample()` of a
    TensorFlow Probability or NumPyro location-scale distribution (`tfd.Normal`,
    `tfd.MultivariateNormalDiag`, `tfd.MultivariateNormalTriL`, `tfd.Laplace`, ...,
    `numpyro.distributions.Normal`, ..., also wrapped in `tfd.Independent` or NumPyro's
    `Independent` / `.to_event()`), when the gradient is meant to come through the
    log-probability:

    - the sample is used for nothing but its own `log_prob` (and values read from it with
      `.item()`, `.numpy()`, `.detach()`, `env.step(...)`, loggers): an error;
    - the sample is also stored or returned, but the `log_prob` is multiplied by a reward,
      return or advantage (`returns`, `G`, `advantages`, `adv`, `rewards_to_go`, `q_values`,
      ...), a score-function (REINFORCE) estimator: a warning. This includes a function or
      method that returns the sample with its `log_prob` (a policy's `act()` returning
      `action, log_prob`) when a caller anywhere in the project unpacks the log-probability
      and multiplies it by a reward (`a, logp = self.policy.act(obs)`, then
      `-(logp * adv)`), found through the semantic model's callers of the function.

    A TFP distribution is followed through the semantic model: local names, `self`
    attributes, the returns of the project's functions (`dist = make_policy(mu, sigma)`),
    and a parameter, which holds what every call of its function in the project gives it
    (`def score(dist, adv)` called with `tfd.Normal(mu, sigma)`).

    It also checks a hand-written reparameterisation, `z = mu + noise` or `mu + std * eps` (noise
    from `torch.randn_like`, `tf.random.normal`, ..., or a buffer filled in place with
    `eps.normal_()`), scored by a location-scale distribution built with the same location and a
    fixed scale, `Normal(mu, self.std).log_prob(z)`: the log-probability is then a constant
    whatever the sample feeds, an error. The fact "a sample located at `mu`" comes from the
    semantic model, so it follows local names, `self` attributes and helpers that return
    `mu + std * eps` (located at the argument given); the scale is fixed when it is a number
    written in the code or a constructor's setting (`self.std = std` in `__init__`).

    ## Why is this bad?
    A reparameterised sample is `z = mu + sigma * eps`. Its log-density is
    `log N((z - mu) / sigma) - log sigma = log N(eps) - log sigma`: the location cancels.
    Gradients of `log_prob(z)` are then the pathwise gradients of a negative-entropy
    estimate, not the score `d log p(z) / d theta` that a policy gradient or a likelihood
    fit needs. With `Normal(0.3, 1.5)` and four samples, the gradient of
    `sum(log_prob(z))` is:

    - torch 2.13.0, `rsample()`: d/dmu exactly 0.0, d/dsigma -2.666667 (= -N / sigma) whatever
      the samples; with `sample()` d/dmu is sum(z - mu) / sigma² (the score);
    - TFP 0.25.0 (TF 2.21.0), `sample()` (`FULLY_REPARAMETERIZED`): d/dmu -8.94e-08 (zero up
      to rounding), d/dsigma -2.666667;
    - NumPyro 0.22.0 (JAX 0.10.2), `sample(key)` of `Normal`, `Laplace`, `Logistic`, `Cauchy`,
      `StudentT`, `Gumbel`, `MultivariateNormal` (and `Independent` of a `Normal`): d/dmu
      exactly 0; with `jax.lax.stop_gradient` on the sample, the score (2.09 here).

    `LogNormal` is not counted: its log-density has a Jacobian term `-log z` that keeps the
    location (d/dmu = -1 per sample in TFP 0.25.0 and NumPyro 0.22.0), so "0 gradient" would
    not be true of it.

    The mean of a policy trained this way never moves, and sigma only shrinks; nothing warns.
    The fixes give the score: `sample()` (torch), `rsample().detach()`, or
    `tf.stop_gradient(dist.sample())`.

    ## Example
    ```python
    dist = torch.distributions.Normal(mu, sigma)
    action = dist.rsample()
    loss = -(dist.log_prob(action) * returns).mean()
    ```

    Use instead:
    ```python
    dist = torch.distributions.Normal(mu, sigma)
    action = dist.sample()  # or dist.rsample().detach(); TFP: tf.stop_gradient(dist.sample())
    loss = -(dist.log_prob(action) * returns).mean()
    ```

    ## Notes
    Not flagged, because the pathwise gradient is what the algorithm wants there:

    - the sample also feeds the rest of the model, e.g. an action given to a critic or
      Q-network (SAC actor losses `alpha * log_prob(a) - q(s, a)`), squashed by `tanh`,
      pushed through a flow or a decoder;
    - an entropy or KL estimate: the log-probability goes to a name such as `entropy`,
      `kl`, `elbo`, is weighted by `alpha` / `temperature`, is combined with another
      distribution's `log_prob` (`q.log_prob(z) - p.log_prob(z)`), or the function is named
      like an entropy or KL;
    - a sample that is returned or stored with no reward weighting in the same function
      (a policy's `sample()` method returning `action, log_prob`);
    - torch's `sample()` (not reparameterised), a detached or `stop_gradient` sample, and
      TFP distributions that are not reparameterised (`Bernoulli`, `Categorical`, ...);
    - code that is not differentiated (tests, metrics, `no_grad` blocks).

    A hand-written sample scored with a learned or computed scale (`F.softplus(...)`,
    `self.log_std.exp()`) is left alone: the log-density keeps a pathwise gradient through the
    scale (an entropy or ELBO term), as is one scored under another location (a prior).

    The `rsample()` / `sample()` and its `log_prob` are followed through local names in one
    function (or at module level), and into the callers of a function that returns both; a
    TFP distribution must come from `tfp.distributions`, spelled through imports or through
    an alias `tfd = tfp.distributions`, and a NumPyro one from `numpyro.distributions`.

    Known misses: a sample drawn in one module (a driver's `sample()`) and scored in another
    after it went through a trajectory buffer; a log-probability stored by one function
    (`saved_log_probs.append(...)`) and weighted by returns in another; a caller that keeps
    the returned tuple whole (`out = policy.act(obs)`, then `out[1]`); distrax, whose samples are reparameterised too (distrax
    0.1.9 does not import with JAX 0.10.2, so it is not measured or checked). TFP files that
    import none of TensorFlow, torch and JAX are skipped by the framework prefilter.

    ## Severity
    Error when the sample is used for nothing but its own `log_prob`; warning for a
    score-function (REINFORCE) estimator, where the `log_prob` is weighted by a return or an
    advantage and the sample is also used.

    ## References
    - Stack Overflow, "tensorflow_probability: Gradients always zero when backpropagating
      the log_prob of a sample of a normal distribution": the location cancels.
    - torch.distributions documentation, "Score function" and "Pathwise derivative": REINFORCE
      uses `sample()`, the pathwise estimator `rsample()`.
    - Williams (1992), REINFORCE; Kingma and Welling (2014), the reparameterisation trick.
    """

    code = "GL070"
    severity = Severity.ERROR
    other_severities = (Severity.WARNING,)  # see ## Severity
    message = "`{log_prob}` scores the reparameterised sample `{sample}`{weighted}: its location gets 0 gradient; {remedy}"
    fixed_scale_message = (
        "`{log_prob}` scores `{sample}`, its own location plus noise, with the fixed scale `{scale}`: "
        "the log-probability is a constant and gives the location 0 gradient; {remedy}"
    )
    frameworks = ("torch", "tensorflow", "jax")

    def __init__(self, context) -> None:
        super().__init__(context)
        # Sample calls per scope (id of the innermost function, 0 for the module), each with
        # where it is read.
        self._samples: dict[int, list[tuple[cst.Call, Place]]] = {}

    def visit_Call(self, node: cst.Call) -> None:
        method = self.context.names.method(node)
        if method in LOG_PROB.methods:
            self._check_handwritten(node)
            return
        if method != "sample" and method not in RSAMPLE.methods:
            return
        if dotted(node.func.value) is None or not_differentiated(self.context):
            return
        function = self.context.enclosing(cst.FunctionDef)
        self._samples.setdefault(id(function) if function is not None else 0, []).append((node, self.place()))

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        samples = self._samples.pop(id(node), None)
        if samples:
            self._check(node, samples)

    def leave_Module(self, node: cst.Module) -> None:
        samples = self._samples.pop(0, None)
        if samples:
            self._check(node, samples)

    # The analysis, once per function that draws a sample -----------------------------------

    def _check(self, scope: cst.FunctionDef | cst.Module, samples: list[tuple[cst.Call, Place]]) -> None:
        index = _Index(scope.body if isinstance(scope, cst.FunctionDef) else scope)
        for sample, place in samples:
            receiver = dotted(sample.func.value)
            family = "torch"  # `rsample()`
            if sample.func.attr.value == "sample":
                family = self._reparameterized(sample.func.value, place, 0)
                if family is None:
                    continue
            found = self._log_probs(sample, receiver, index)
            if found is None:
                continue
            calls, weak = found
            for call in calls:
                self._judge(call, sample, index, weak, family)

    def _log_probs(self, sample: cst.Call, receiver: str, index: _Index) -> tuple[list, bool] | None:
        """The receiver's own `log_prob` calls of this sample, and whether the sample is also
        stored or returned; None when the sample feeds anything differentiable."""
        parent = index.parent.get(id(sample))
        if isinstance(parent, cst.Arg):
            call = index.parent.get(id(parent))
            if self._own_log_prob(call, parent, receiver):
                return [call], False
            return None
        if not (isinstance(parent, cst.Assign) and len(parent.targets) == 1):
            return None
        target = parent.targets[0].target
        if not isinstance(target, cst.Name) or sum(target.value in targets for targets, _, _ in index.assigns) != 1:
            return None
        calls, weak = [], False
        for name in index.names.get(target.value, ()):
            if name is target:
                continue
            use = self._use(name, receiver, index)
            if use == "strong":
                return None
            if use == "weak":
                weak = True
            elif isinstance(use, cst.Call):
                calls.append(use)
        return calls, weak

    def _own_log_prob(self, call: cst.CSTNode | None, arg: cst.Arg, receiver: str) -> bool:
        if not isinstance(call, cst.Call) or self.context.names.method(call) not in LOG_PROB.methods:
            return False
        args = positional(call)
        return dotted(call.func.value) == receiver and bool(args) and args[0] is arg.value

    def _use(self, name: cst.Name, receiver: str, index: _Index) -> str | cst.Call | None:
        """How the sample is used here: its own log_prob call, None (not differentiated),
        'weak' (stored or returned) or 'strong' (anything else)."""
        node: cst.CSTNode = name
        for _ in range(_MAX_FLOW):
            parent = index.parent.get(id(node))
            if isinstance(parent, cst.Arg):
                call = index.parent.get(id(parent))
                if not isinstance(call, cst.Call):
                    return "strong"
                if node is name and self._own_log_prob(call, parent, receiver):
                    return call
                if self._sink(call):
                    return None
                return "weak" if self.context.names.method(call) == "append" else "strong"
            if isinstance(parent, cst.Attribute) and parent.value is node:
                call = index.parent.get(id(parent))
                method = parent.attr.value
                if not (isinstance(call, cst.Call) and call.func is parent):
                    return "strong"
                if method in LEAVE_AUTOGRAD.methods:
                    return None
                if method in TRANSPARENT.methods:
                    node = call
                    continue
                return "strong"
            if isinstance(parent, (cst.Element, cst.Tuple)):
                node = parent
                continue
            if isinstance(parent, cst.Return):
                return "weak"
            return "strong"
        return "strong"

    def _sink(self, call: cst.Call) -> bool:
        if self.callee(call, SINKS):
            return True
        if isinstance(call.func, cst.Name) and not self.qualified_names(call.func):
            return call.func.value in SINKS.methods
        return self.context.names.method(call) in SINKS.methods

    def _judge(self, call: cst.Call, sample: cst.Call, index: _Index, weak: bool, family: str) -> None:
        if _entropy_scope(self.context.scopes):
            return
        holders = index.holders(call)
        if index.entropy_term(call, holders, self):
            return
        weight = _reward_weight(call, index, holders)
        where = ""
        if weak and weight is None:
            found = self._weighted_by_a_caller(call, index, holders)
            if found is None:
                return
            weight, where = found
        if weight is False:
            return
        self.report(
            call,
            statement=index.statement.get(id(call)),
            severity=Severity.WARNING if weak else None,
            log_prob=_short(self.source(call)),
            sample=_short(self.source(sample)),
            weighted=f" weighted by `{_short(self.source(weight))}`{where}" if weight is not None else "",
            remedy=_REMEDY[family],
        )

    def _weighted_by_a_caller(self, call: cst.Call, index: _Index, holders: set[str]) -> tuple | None:
        """For a log-probability that its function returns beside the sample (a policy's
        `act()` returning `action, log_prob`): the reward that a caller of the function
        weights it by, anywhere in the project, and where (`a, logp = self.policy.act(obs)`,
        then `-(logp * adv)`); None when no caller does."""
        function = self.context.enclosing(cst.FunctionDef)
        position = _returned_position(function, call, index, holders) if function is not None else None
        if position is None:
            return None
        for caller, place in self.context.semantic.callers(function):
            owner = place.scope.functions[0] if place.scope.functions else place.model.module
            if _entropy_scope((owner,)):
                continue
            outer = _Index(owner.body if isinstance(owner, cst.FunctionDef) else owner)
            seeds = _received(outer.parent.get(id(caller)), position)
            if seeds is None:
                continue
            received = outer.holders(caller, seeds)
            if outer.entropy_term(caller, received, self):
                continue
            weight = _reward_weight(caller, outer, received)
            if weight:
                name = f"`{owner.name.value}`" if isinstance(owner, cst.FunctionDef) else "the module"
                elsewhere = f" in `{place.model.dotted_name}`" if place.model is not self.context.semantic else ""
                return weight, f" where {name}{elsewhere} calls `{function.name.value}`"
        return None

    # Hand-written reparameterisation: `z = mu + std * eps`, scored by `Normal(mu, std)` ---------

    def _check_handwritten(self, call: cst.Call) -> None:
        """`dist.log_prob(z)` where the semantic model says `z` is the location of `dist` plus
        noise (through names, `self` attributes and helpers that return `mu + std * eps`)."""
        args = positional(call)
        if not args or isinstance(args[0], cst.Call) and self.context.names.method(args[0]) in ("sample", *RSAMPLE.methods):
            return
        built = self._distribution(call.func.value)
        if built is None or not_differentiated(self.context):
            return
        semantic, scopes = self.context.semantic, self.context.scopes
        statement = self.context.current_statement()
        location = semantic.value(args[0], scopes, statement).location
        loc = argument(built, "loc", 0)
        if location is None or loc is None or semantic.location_key(loc, scopes, statement) != location:
            return
        if _entropy_scope(scopes):
            return
        scale = argument(built, ("scale", "scale_diag", "scale_tril", "covariance_matrix"), 1)
        if scale is None or not semantic.holds_constant(scale, scopes, configuration=True):
            return  # a learned scale: the pathwise gradient of an entropy term may be the point
        function = self.context.enclosing(cst.FunctionDef)
        index = _Index(function.body if function is not None else self.context.module)
        holders = index.holders(call)
        if index.entropy_term(call, holders, self):
            return
        tfp = any(name.startswith("tensorflow_probability") for name in self._distribution_names(built.func))
        self.report(
            call,
            self.fixed_scale_message,
            log_prob=_short(self.source(call)),
            sample=_short(self.source(args[0])),
            scale=_short(self.source(scale)),
            remedy="wrap the sample in `tf.stop_gradient`" if tfp else "`.detach()` the sample before `log_prob`",
        )

    def _distribution(self, node: cst.BaseExpression) -> cst.Call | None:
        """The location-scale distribution built by `node` (`Normal(mu, std)`, or a name bound to one)."""
        if not isinstance(node, cst.Call):
            origins = self.context.semantic.origins(node, self.context.scopes)
            if not origins or len(origins) != 1 or not isinstance(origins[0], cst.Call):
                return None
            node = origins[0]
        return node if self._distribution_names(node.func) & LOCATION_SCALE else None

    # TFP distributions --------------------------------------------------------------------

    def _distribution_names(self, func: cst.BaseExpression, place: Place | None = None) -> set[str]:
        """The qualified names of a distribution's constructor, also through a local alias of
        TFP's distributions module."""
        names = set(place.qualified_names(func) if place is not None else self.qualified_names(func))
        if place is not None and isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            alias = ModuleModel.only_assignment(func.value, place)  # `tfd = tfp.distributions` in the function
            if alias is not None and any(name in _TFP_MODULES for name in alias[1].qualified_names(alias[0])):
                names.add(f"{_TFP_MODULES[0]}.{func.attr.value}")
        return names

    def _reparameterized(self, node: cst.BaseExpression, place: Place, depth: int) -> str | None:
        """The package (`tensorflow_probability`, `numpyro`) when every value `node` may hold is
        a distribution whose `sample()` is reparameterised, followed through names, `self`
        attributes, what the callers pass a parameter and the returns of the project's
        functions; else None."""
        if depth > 3:
            return None
        if isinstance(node, (cst.Name, cst.Attribute)) and not place.qualified_names(node):
            values = ModuleModel.assignments(node, place, callers=True)
            found = {self._reparameterized(value, at, depth + 1) if index is None and isinstance(value, cst.BaseExpression)
                     else None for value, index, at in values or ()}
            return found.pop() if len(found) == 1 else None
        if not isinstance(node, cst.Call):
            return None
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "to_event":  # NumPyro
            return self._reparameterized(node.func.value, place, depth + 1)
        names = self._distribution_names(node.func, place)
        if names & REPARAMETERIZED:
            return min(names & REPARAMETERIZED).split(".", 1)[0]
        if names & WRAPPERS:
            inner = next((a.value for a in node.args if a.keyword and a.keyword.value in ("distribution", "base_dist")), None)
            args = positional(node)
            inner = inner if inner is not None else (args[0] if args else None)
            return self._reparameterized(inner, place, depth + 1) if inner is not None else None
        returned = ModuleModel.returns(node, place) if not names else None
        found = {self._reparameterized(value, at, depth + 1) for value, at in returned or ()}
        return found.pop() if len(found) == 1 else None


class _Index:
    """Parents, statements and name uses under one function body, built once per function
    that draws a sample (a handful per file)."""

    def __init__(self, body: cst.CSTNode) -> None:
        self.parent: dict[int, cst.CSTNode] = {}
        self.statement: dict[int, cst.CSTNode] = {}
        self.names: dict[str, list[cst.Name]] = {}
        self.assigns: list[tuple[set[str], cst.BaseExpression, cst.CSTNode]] = []
        self.products: list[cst.BinaryOperation] = []
        self.log_probs: list[cst.Call] = []
        stack: list[tuple[cst.CSTNode, cst.CSTNode | None, cst.CSTNode | None]] = [(body, None, None)]
        while stack:
            node, parent, statement = stack.pop()
            if parent is not None:
                self.parent[id(node)] = parent
            if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                statement = node
            if isinstance(node, cst.Name):
                self.names.setdefault(node.value, []).append(node)
                continue
            if isinstance(node, cst.Call):
                self.statement[id(node)] = statement
                if isinstance(node.func, cst.Attribute) and node.func.attr.value in LOG_PROB.methods:
                    self.log_probs.append(node)
            elif isinstance(node, cst.Assign):
                targets = {n for t in node.targets for n in referenced_names(t.target)}
                self.assigns.append((targets, node.value, node))
            elif isinstance(node, (cst.AugAssign, cst.AnnAssign)) and node.value is not None:
                self.assigns.append((referenced_names(node.target), node.value, node))
            elif isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
                self.products.append(node)
            if isinstance(node, (cst.Attribute, cst.Arg)):  # not attribute or keyword names
                stack.append((node.value, node, statement))
                continue
            for child in iter_children(node):
                stack.append((child, node, statement))

    def contains(self, outer: cst.CSTNode, node: cst.CSTNode) -> bool:
        while node is not None:
            if node is outer:
                return True
            node = self.parent.get(id(node))
        return False

    def holders(self, call: cst.Call, seeds: set[str] = frozenset()) -> set[str]:
        """Names the log-probability (`call`, or the names `seeds` it is unpacked into) flows
        into: assignment targets and lists it is appended to."""
        found: set[str] = set(seeds)
        for _ in range(_MAX_FLOW):
            before = len(found)
            for targets, value, _node in self.assigns:
                if self.contains(value, call) or referenced_names(value) & found:
                    found |= targets
            for log_prob in (call,):
                parent = self.parent.get(id(log_prob))
                while isinstance(parent, (cst.Arg, cst.Attribute, cst.Call, cst.BinaryOperation, cst.UnaryOperation)):
                    if isinstance(parent, cst.Call) and isinstance(parent.func, cst.Attribute):
                        if parent.func.attr.value == "append" and isinstance(parent.func.value, cst.Name):
                            found.add(parent.func.value.value)
                    parent = self.parent.get(id(parent))
            if len(found) == before:
                break
        return found

    def _feeds(self, side: cst.BaseExpression, call: cst.Call, holders: set[str]) -> bool:
        return self.contains(side, call) or bool(referenced_names(side) & holders)

    def weight(self, call: cst.Call, holders: set[str], pattern: re.Pattern) -> cst.BaseExpression | None:
        """The other factor of a product with the log-probability whose names match `pattern`."""
        for product in self.products:
            for mine, other in ((product.left, product.right), (product.right, product.left)):
                if self._feeds(mine, call, holders) and not self._feeds(other, call, holders):
                    if any(pattern.search(n) for n in _all_names(other)):
                        return other
        return None

    def entropy_term(self, call: cst.Call, holders: set[str], rule: Rule) -> bool:
        """The log-probability goes to a name such as `entropy` or `kl`, or is combined with
        another distribution's: an entropy or KL estimate, where the pathwise gradient is wanted."""
        return any(_ENTROPY_NAME.search(h) for h in holders) or self.combined_log_prob(call, holders, rule)

    def combined_log_prob(self, call: cst.Call, holders: set[str], rule: Rule) -> bool:
        """Another distribution's log_prob in the same expression: a Monte-Carlo KL or ELBO."""
        receiver = dotted(call.func.value)
        for other in self.log_probs:
            if other is call or dotted(other.func.value) == receiver:
                continue
            statement = self.statement.get(id(other))
            if statement is not None and (
                self.contains(statement, call) or referenced_names(statement) & holders
            ):
                return True
        return False


def _entropy_scope(scopes) -> bool:
    """A function or class around the log-probability is named like an entropy or KL computation."""
    return any(isinstance(s, (cst.FunctionDef, cst.ClassDef)) and _ENTROPY_SCOPE.search(s.name.value) for s in scopes)


def _reward_weight(call: cst.Call, index: _Index, holders: set[str]) -> cst.BaseExpression | bool | None:
    """The reward or advantage the log-probability is multiplied by; False when it is
    weighted as an entropy or KL term instead (`alpha * log_pi`), where the pathwise gradient
    is the one wanted; None when neither."""
    weight = index.weight(call, holders, _REWARD)
    if weight is not None and _ENTROPY_NAME.search(" ".join(_all_names(weight))):
        return False
    if index.weight(call, holders, _ENTROPY_NAME) is not None:
        return False
    return weight


def _returned_position(function: cst.FunctionDef, call: cst.Call, index: _Index, holders: set[str]) -> int | None:
    """The element of the tuple `function` returns that the log-probability flows into
    (`return action, log_prob`); None when it returns no tuple holding it."""
    for node in small_statements(function.body):
        if isinstance(node, cst.Return) and isinstance(node.value, cst.Tuple):
            for position, element in enumerate(node.value.elements):
                if index._feeds(element.value, call, holders):
                    return position
    return None


def _received(statement: cst.CSTNode | None, position: int) -> set[str] | None:
    """The name a caller unpacks the returned element `position` into (`a, logp = act(x)`)."""
    if not (isinstance(statement, cst.Assign) and len(statement.targets) == 1):
        return None
    target = statement.targets[0].target
    if isinstance(target, (cst.Tuple, cst.List)) and position < len(target.elements):
        element = target.elements[position].value
        return {element.value} if isinstance(element, cst.Name) else None
    return None


def _all_names(node: cst.CSTNode) -> set[str]:
    """Plain names and attribute names under `node` (`batch.returns` gives batch and returns)."""
    found = referenced_names(node)
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Attribute):
            found.add(current.attr.value)
        stack.extend(iter_children(current))
    return found


def _short(text: str) -> str:
    return text if len(text) <= _SOURCE_CHARS else text[: _SOURCE_CHARS - 3] + "..."
