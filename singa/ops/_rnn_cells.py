"""One time step of ONNX's RNN, GRU and LSTM cells, forward and backward.

A cell works on all directions and the whole batch at once: states are
``(num_directions, batch, hidden)``, the gate pre-activations
``(num_directions, batch, gates * hidden)``.  ``xw`` is the input's share of
the pre-activations (``X W^T`` plus the biases the cell folds into it, see
``input_bias``), computed for every step by the driver in ``recurrent.py``.

``step`` returns the new state and, when asked to keep it, what ``step_back``
needs; ``step_back`` turns the gradient of the new state into the gradients of
the old state, of ``xw`` and of the recurrent product ``h R^T (+ Rb)``
(``dr``), which the driver sums into the weight gradients.
"""

from __future__ import annotations


def _apply(xp, acts, a):
    """One activation per direction (``acts[d]``) on ``a`` of shape (D, ...)."""
    if all(f == acts[0] for f in acts):
        return acts[0](xp, a)
    return xp.stack([f(xp, a[d]) for d, f in enumerate(acts)])


def _slope(xp, acts, a, y):
    """The derivative of ``_apply(acts, a)``, given its result ``y``."""
    if all(f == acts[0] for f in acts):
        return acts[0].derivative(xp, a, y)
    return xp.stack([f.derivative(xp, a[d], y[d]) for d, f in enumerate(acts)])


class _Cell:
    """What the three cells share: weights, activations and the cell clip."""

    gates = 1
    state_count = 1  # (h,) or (h, c)

    def __init__(self, xp, R, B, acts, clip):
        self.xp = xp
        self.R = R  # (D, gates*H, H)
        self.RT = R.transpose(0, 2, 1)
        self.H = R.shape[-1]
        self.B = B  # (D, 2*gates*H) or None
        self.acts = acts  # per direction: tuple of Activations, one per slot
        self.clip = clip

    def slot(self, k):
        return [a[k] for a in self.acts]

    def input_bias(self):
        """(D, gates*H) added to ``X W^T``: Wb + Rb (None without B)."""
        if self.B is None:
            return None
        n = self.gates * self.H
        return self.B[:, :n] + self.B[:, n:]

    def clipped(self, a):
        """(a clipped to the cell clip, mask of where the clip let the gradient through)."""
        if self.clip is None:
            return a, None
        c = self.clip
        return self.xp.clip(a, -c, c), (a >= -c) & (a <= c)

    @staticmethod
    def through(g, mask):
        return g if mask is None else g * mask

    def recurrent_grad(self, dr, h_prev, tape):
        """dR (D, gates*H, H) from dr (D, T, B, gates*H) and the states fed to R."""
        xp = self.xp
        D, T, Bt, G = dr.shape
        return xp.matmul(dr.reshape(D, T * Bt, G).transpose(0, 2, 1),
                         h_prev.reshape(D, T * Bt, self.H))

    def extra_grads(self):
        """Gradients of inputs only this cell has (LSTM: P), by input index."""
        return {}


class RNNCell(_Cell):
    """Ht = f(Xt W^T + Ht-1 R^T + Wb + Rb)."""

    def step(self, xw, state, keep):
        (h,) = state
        a, mask = self.clipped(xw + self.xp.matmul(h, self.RT))
        hn = _apply(self.xp, self.slot(0), a)
        return (hn,), ((a, mask, hn) if keep else None)

    def step_back(self, saved, dstate):
        a, mask, hn = saved
        (dh,) = dstate
        da = self.through(dh * _slope(self.xp, self.slot(0), a, hn), mask)
        return (self.xp.matmul(da, self.R),), da, da


class LSTMCell(_Cell):
    """ONNX LSTM: gates i, o, f, c (in that order), optional peepholes P (i, o, f),
    ``input_forget`` coupling f = 1 - i."""

    gates = 4
    state_count = 2

    def __init__(self, xp, R, B, acts, clip, P, input_forget):
        super().__init__(xp, R, B, acts, clip)
        self.P = None if P is None else P[:, None, :]  # (D, 1, 3H): broadcast over the batch
        self.input_forget = input_forget
        self.dP = None

    def _peep(self, k):
        H = self.H
        return self.P[..., k * H:(k + 1) * H]

    def step(self, xw, state, keep):
        xp, H = self.xp, self.H
        h, c = state
        a = xw + xp.matmul(h, self.RT)
        ai, ao, af, ac = (a[..., k * H:(k + 1) * H] for k in range(4))
        if self.P is not None:
            ai = ai + self._peep(0) * c
            af = af + self._peep(2) * c
        ai, mi = self.clipped(ai)
        af, mf = self.clipped(af)
        ac, mc = self.clipped(ac)
        f_act, g_act, h_act = self.slot(0), self.slot(1), self.slot(2)
        i = _apply(xp, f_act, ai)
        f = 1 - i if self.input_forget else _apply(xp, f_act, af)
        g = _apply(xp, g_act, ac)
        cn = f * c + i * g
        if self.P is not None:
            ao = ao + self._peep(1) * cn
        ao, mo = self.clipped(ao)
        o = _apply(xp, f_act, ao)
        hc = _apply(xp, h_act, cn)
        hn = o * hc
        saved = (ai, af, ac, ao, mi, mf, mc, mo, i, f, g, o, c, cn, hc) if keep else None
        return (hn, cn), saved

    def step_back(self, saved, dstate):
        xp = self.xp
        ai, af, ac, ao, mi, mf, mc, mo, i, f, g, o, c, cn, hc = saved
        dh, dc = dstate
        f_act, g_act, h_act = self.slot(0), self.slot(1), self.slot(2)
        dao = self.through(dh * hc * _slope(xp, f_act, ao, o), mo)
        dcn = dc + dh * o * _slope(xp, h_act, cn, hc)
        if self.P is not None:
            dcn = dcn + dao * self._peep(1)
        di, df, dg = dcn * g, dcn * c, dcn * i
        dc_prev = dcn * f
        if self.input_forget:
            di = di - df
            daf = xp.zeros_like(df)
        else:
            daf = self.through(df * _slope(xp, f_act, af, f), mf)
        dai = self.through(di * _slope(xp, f_act, ai, i), mi)
        dac = self.through(dg * _slope(xp, g_act, ac, g), mc)
        if self.P is not None:
            dc_prev = dc_prev + dai * self._peep(0) + daf * self._peep(2)
            dp = xp.concatenate([(dai * c).sum(axis=1), (dao * cn).sum(axis=1),
                                 (daf * c).sum(axis=1)], axis=-1)
            self.dP = dp if self.dP is None else self.dP + dp
        da = xp.concatenate([dai, dao, daf, dac], axis=-1)
        return (xp.matmul(da, self.R), dc_prev), da, da

    def extra_grads(self):
        return {} if self.P is None else {7: self.dP}


class GRUCell(_Cell):
    """ONNX GRU: gates z, r, h (in that order); ``linear_before_reset`` applies
    the reset gate after the recurrent product of the h gate."""

    gates = 3

    def __init__(self, xp, R, B, acts, clip, linear_before_reset):
        super().__init__(xp, R, B, acts, clip)
        self.lbr = linear_before_reset
        H = self.H
        self.RT_zr = self.RT[..., :2 * H]
        self.RT_h = self.RT[..., 2 * H:]
        self.Rbh = None if B is None else B[:, None, 5 * H:]  # (D, 1, H)

    def input_bias(self):
        """Wb, plus Rb of the z and r gates (Rbh sits inside the h gate's product)."""
        if self.B is None:
            return None
        H = self.H
        bias = self.B[:, :3 * H].copy()
        bias[:, :2 * H] += self.B[:, 3 * H:5 * H]
        return bias

    def step(self, xw, state, keep):
        xp, H = self.xp, self.H
        (h,) = state
        if self.lbr:
            hr = xp.matmul(h, self.RT)  # all three gates in one product
            azr = xw[..., :2 * H] + hr[..., :2 * H]
        else:
            azr = xw[..., :2 * H] + xp.matmul(h, self.RT_zr)
        azr, mzr = self.clipped(azr)
        zr = _apply(xp, self.slot(0), azr)
        z, r = zr[..., :H], zr[..., H:]
        if self.lbr:
            u = hr[..., 2 * H:]
            if self.Rbh is not None:
                u = u + self.Rbh
            ah = xw[..., 2 * H:] + r * u
        else:
            u = r * h  # what the h gate's recurrent weights multiply
            ah = xw[..., 2 * H:] + xp.matmul(u, self.RT_h)
            if self.Rbh is not None:
                ah = ah + self.Rbh
        ah, mh = self.clipped(ah)
        hh = _apply(xp, self.slot(1), ah)
        hn = hh + z * (h - hh)
        return (hn,), ((azr, mzr, zr, u, ah, mh, hh, h) if keep else None)

    def step_back(self, saved, dstate):
        xp, H = self.xp, self.H
        azr, mzr, zr, u, ah, mh, hh, h = saved
        (dh,) = dstate
        z, r = zr[..., :H], zr[..., H:]
        dah = self.through(dh * (1 - z) * _slope(xp, self.slot(1), ah, hh), mh)
        dh_prev = dh * z
        if self.lbr:
            drh = dah * r  # the gradient of u = h Rh^T + Rbh
            dr = dah * u
        else:
            du = xp.matmul(dah, self.R[:, 2 * H:, :])
            drh = dah
            dr = du * h
            dh_prev = dh_prev + du * r
        dzr = xp.concatenate([dh * (h - hh), dr], axis=-1)
        dazr = self.through(dzr * _slope(xp, self.slot(0), azr, zr), mzr)
        drec = xp.concatenate([dazr, drh], axis=-1)
        if self.lbr:  # h reached all three gates through one product
            dh_prev = dh_prev + xp.matmul(drec, self.R)
        else:
            dh_prev = dh_prev + xp.matmul(dazr, self.R[:, :2 * H, :])
        return (dh_prev,), xp.concatenate([dazr, dah], axis=-1), drec

    def recurrent_grad(self, dr, h_prev, tape):
        if self.lbr:
            return super().recurrent_grad(dr, h_prev, tape)
        xp, H = self.xp, self.H
        D, T, Bt, G = dr.shape
        # the h gate's recurrent weights multiply r (.) h, kept per step as u
        u = xp.stack([saved[3] for saved in tape], axis=1)
        flat = dr.reshape(D, T * Bt, G).transpose(0, 2, 1)
        return xp.concatenate([
            xp.matmul(flat[:, :2 * H], h_prev.reshape(D, T * Bt, H)),
            xp.matmul(flat[:, 2 * H:], u.reshape(D, T * Bt, H))], axis=1)
