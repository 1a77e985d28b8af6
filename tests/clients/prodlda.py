"""ProdLDA of Pyro's tutorial (``prodlda``), re-typed at a small size: documents as bag-of-words
counts of different lengths, ``logtheta ~ Normal`` in ``pyro.plate("documents", N)``, a decoder
``softmax(bn(beta(theta)), dim=1)`` with BatchNorm1d and dropout, an encoder with dropout and
BatchNorm1d, and a Multinomial likelihood whose ``total_count`` is the longest document of the
batch, as the tutorial writes it (torch's ``Multinomial.log_prob`` scores each document by its
own length)."""

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn


class Encoder(nn.Module):
    def __init__(self, vocab_size, num_topics, hidden, dropout):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc1 = nn.Linear(vocab_size, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fcmu = nn.Linear(hidden, num_topics)
        self.fclv = nn.Linear(hidden, num_topics)
        self.bnmu = nn.BatchNorm1d(num_topics, affine=False)
        self.bnlv = nn.BatchNorm1d(num_topics, affine=False)

    def forward(self, inputs):
        h = F.softplus(self.fc1(inputs))
        h = F.softplus(self.fc2(h))
        h = self.drop(h)
        logtheta_loc = self.bnmu(self.fcmu(h))
        logtheta_logvar = self.bnlv(self.fclv(h))
        return logtheta_loc, (0.5 * logtheta_logvar).exp()


class Decoder(nn.Module):
    """``batch_norm=False`` leaves the BatchNorm1d out (not the tutorial's: a program that runs
    under a particle plate, its softmax then normalizing over the documents)."""

    def __init__(self, vocab_size, num_topics, dropout, batch_norm=True):
        super().__init__()
        self.beta = nn.Linear(num_topics, vocab_size, bias=False)
        self.bn = nn.BatchNorm1d(vocab_size, affine=False) if batch_norm else nn.Identity()
        self.drop = nn.Dropout(dropout)

    def forward(self, inputs):
        inputs = self.drop(inputs)
        return F.softmax(self.bn(self.beta(inputs)), dim=1)


class ProdLDA(nn.Module):
    def __init__(self, vocab_size, num_topics, hidden, dropout, batch_norm=True):
        super().__init__()
        self.vocab_size, self.num_topics = vocab_size, num_topics
        self.encoder = Encoder(vocab_size, num_topics, hidden, dropout)
        self.decoder = Decoder(vocab_size, num_topics, dropout, batch_norm)

    def model(self, docs):
        pyro.module("decoder", self.decoder)
        with pyro.plate("documents", docs.shape[0]):
            logtheta_loc = docs.new_zeros((docs.shape[0], self.num_topics))
            logtheta_scale = docs.new_ones((docs.shape[0], self.num_topics))
            logtheta = pyro.sample("logtheta",
                                   dist.Normal(logtheta_loc, logtheta_scale).to_event(1))
            theta = F.softmax(logtheta, -1)
            count_param = self.decoder(theta)
            total_count = int(docs.sum(-1).max())
            pyro.sample("obs", dist.Multinomial(total_count, count_param), obs=docs)

    def guide(self, docs):
        pyro.module("encoder", self.encoder)
        with pyro.plate("documents", docs.shape[0]):
            logtheta_loc, logtheta_scale = self.encoder(docs)
            pyro.sample("logtheta", dist.Normal(logtheta_loc, logtheta_scale).to_event(1))


def synthetic_documents(n, vocab_size=30, num_topics=3, min_length=5, max_length=40, seed=0):
    """``[n, vocab_size]`` word counts: documents of lengths drawn from ``[min_length,
    max_length]``, words from a Dirichlet mixture of sparse topics, from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    topics = torch.rand(num_topics, vocab_size, generator=g).pow(4) + 1e-3
    topics = topics / topics.sum(-1, keepdim=True)
    gamma = torch._standard_gamma(torch.full((n, num_topics), 0.5), generator=g)
    probs = (gamma / gamma.sum(-1, keepdim=True)) @ topics
    lengths = torch.randint(min_length, max_length + 1, (n,), generator=g)
    docs = torch.zeros(n, vocab_size)
    for i in range(n):
        words = torch.multinomial(probs[i], int(lengths[i]), replacement=True, generator=g)
        docs[i] = torch.bincount(words, minlength=vocab_size).float()
    return docs
