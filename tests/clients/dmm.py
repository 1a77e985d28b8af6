"""A deep Markov model written the way Pyro's ``examples/dmm`` writes it, scaled down: binary
sequences of different lengths, a gated transition, an emitter, and a guide that reads the
reversed sequences with an RNN over a ``PackedSequence``; time steps in ``pyro.markov``, padded
steps masked, the data plate named "z_minibatch". Its batches come from a ``DataLoader`` whose
``collate_fn`` pads, masks and packs them, as the example's ``get_mini_batch`` does."""

import pyro
import pyro.distributions as dist
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence


def sequences(num: int = 48, dim: int = 6, lengths=(3, 9), seed: int = 0) -> list:
    """``num`` binary sequences ``[T_i, dim]`` of lengths in ``lengths``, each a noisy
    repetition of a random pattern (so that there is something to learn)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        length = int(torch.randint(lengths[0], lengths[1], (), generator=g))
        pattern = (torch.rand(dim, generator=g) < 0.5).float()
        flips = (torch.rand(length, dim, generator=g) < 0.15).float()
        out.append((pattern - flips).abs())
    return out


def reverse_sequences(batch: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each padded sequence of ``batch`` ``[B, T, D]`` reversed within its own length."""
    out = torch.zeros_like(batch)
    for b, length in enumerate(lengths.tolist()):
        out[b, :length] = batch[b, :length].flip(0)
    return out


def collate(items: list) -> tuple:
    """The model's arguments for a list of sequences: ``(padded [B, T, D], reversed and packed,
    mask [B, T], lengths [B])``."""
    lengths = torch.tensor([len(s) for s in items])
    padded = pad_sequence(items, batch_first=True)
    mask = (torch.arange(padded.shape[1])[None, :] < lengths[:, None]).float()
    packed = pack_padded_sequence(reverse_sequences(padded, lengths), lengths,
                                  batch_first=True, enforce_sorted=False)
    return padded, packed, mask, lengths


class Emitter(nn.Module):
    def __init__(self, input_dim, z_dim, hidden):
        super().__init__()
        self.lin_z_to_hidden = nn.Linear(z_dim, hidden)
        self.lin_hidden_to_input = nn.Linear(hidden, input_dim)

    def forward(self, z_t):
        return torch.sigmoid(self.lin_hidden_to_input(torch.relu(self.lin_z_to_hidden(z_t))))


class GatedTransition(nn.Module):
    def __init__(self, z_dim, hidden):
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, z_dim))
        self.proposed = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(),
                                      nn.Linear(hidden, z_dim))
        self.lin_z_to_loc = nn.Linear(z_dim, z_dim)
        self.lin_sig = nn.Linear(z_dim, z_dim)

    def forward(self, z_prev):
        gate = torch.sigmoid(self.gate(z_prev))
        proposed = self.proposed(z_prev)
        loc = (1 - gate) * self.lin_z_to_loc(z_prev) + gate * proposed
        scale = nn.functional.softplus(self.lin_sig(torch.relu(proposed)))
        return loc, scale


class Combiner(nn.Module):
    def __init__(self, z_dim, rnn_dim):
        super().__init__()
        self.lin_z_to_hidden = nn.Linear(z_dim, rnn_dim)
        self.lin_hidden_to_loc = nn.Linear(rnn_dim, z_dim)
        self.lin_hidden_to_scale = nn.Linear(rnn_dim, z_dim)

    def forward(self, z_prev, h_rnn):
        h = 0.5 * (torch.tanh(self.lin_z_to_hidden(z_prev)) + h_rnn)
        return self.lin_hidden_to_loc(h), nn.functional.softplus(self.lin_hidden_to_scale(h))


class DMM(nn.Module):
    def __init__(self, input_dim=6, z_dim=3, hidden=16, rnn_dim=16):
        super().__init__()
        self.emitter = Emitter(input_dim, z_dim, hidden)
        self.trans = GatedTransition(z_dim, hidden)
        self.combiner = Combiner(z_dim, rnn_dim)
        self.rnn = nn.RNN(input_size=input_dim, hidden_size=rnn_dim, nonlinearity="relu",
                          batch_first=True)
        self.z_0 = nn.Parameter(torch.zeros(z_dim))
        self.z_q_0 = nn.Parameter(torch.zeros(z_dim))
        self.h_0 = nn.Parameter(torch.zeros(1, 1, rnn_dim))

    def model(self, mini_batch, mini_batch_reversed, mini_batch_mask, mini_batch_seq_lengths,
              annealing_factor=1.0):
        T_max = mini_batch.size(1)
        pyro.module("dmm", self)
        z_prev = self.z_0.expand(mini_batch.size(0), self.z_0.size(0))
        with pyro.plate("z_minibatch", len(mini_batch)):
            for t in pyro.markov(range(1, T_max + 1)):
                z_loc, z_scale = self.trans(z_prev)
                with pyro.poutine.scale(scale=annealing_factor):
                    z_t = pyro.sample(f"z_{t}", dist.Normal(z_loc, z_scale)
                                      .mask(mini_batch_mask[:, t - 1:t]).to_event(1))
                probs = self.emitter(z_t)
                pyro.sample(f"obs_x_{t}", dist.Bernoulli(probs)
                            .mask(mini_batch_mask[:, t - 1:t]).to_event(1),
                            obs=mini_batch[:, t - 1, :])
                z_prev = z_t

    def guide(self, mini_batch, mini_batch_reversed, mini_batch_mask, mini_batch_seq_lengths,
              annealing_factor=1.0):
        T_max = mini_batch.size(1)
        pyro.module("dmm", self)
        h_0 = self.h_0.expand(1, mini_batch.size(0), self.rnn.hidden_size).contiguous()
        rnn_output, _ = self.rnn(mini_batch_reversed, h_0)
        rnn_output, _ = pad_packed_sequence(rnn_output, batch_first=True)
        rnn_output = reverse_sequences(rnn_output, mini_batch_seq_lengths)
        z_prev = self.z_q_0.expand(mini_batch.size(0), self.z_q_0.size(0))
        with pyro.plate("z_minibatch", len(mini_batch)):
            for t in pyro.markov(range(1, T_max + 1)):
                z_loc, z_scale = self.combiner(z_prev, rnn_output[:, t - 1, :])
                with pyro.poutine.scale(scale=annealing_factor):
                    z_t = pyro.sample(f"z_{t}", dist.Normal(z_loc, z_scale)
                                      .mask(mini_batch_mask[:, t - 1:t]).to_event(1))
                z_prev = z_t
