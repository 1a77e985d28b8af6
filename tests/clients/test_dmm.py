"""Pyro's deep Markov model on variable-length binary sequences: trained by pyrovae.fit and
scored by pyrovae.log_px through a DataLoader whose collate_fn pads, masks and packs them (the
one batching path), against the per-particle reference batch by batch."""

import pyro
import torch
from dmm import DMM, collate, sequences
from reference import agree, assert_trained, per_particle_log_px
from torch.utils.data import DataLoader

import pyrovae

K = 500


def test_the_dmm_trains_and_scores_through_a_data_loader():
    torch.manual_seed(0)
    seqs = sequences(num=60)
    train, held_out = seqs[:48], seqs[48:]
    dmm = DMM()
    result = pyrovae.fit(dmm.model, dmm.guide,
                         DataLoader(train, batch_size=16, shuffle=True, collate_fn=collate),
                         valid=DataLoader(held_out, batch_size=6, collate_fn=collate),
                         epochs=3, lr=1e-2, seed=0)
    assert_trained(result)
    assert result.history["valid_elbo"].notna().all()

    loader = DataLoader(held_out, batch_size=6, collate_fn=collate)
    pyro.set_rng_seed(0)
    scored = pyrovae.log_px(dmm.model, dmm.guide, loader, num_samples=K)
    assert scored.value.shape == (12,) and torch.isfinite(scored.value).all()
    assert scored.layout == "vectorized" and scored.data_plate == "z_minibatch"
    pyro.set_rng_seed(1)
    reference = [per_particle_log_px(dmm.model, dmm.guide, *batch, num_samples=K,
                                     data_plate="z_minibatch") for batch in loader]
    value = torch.cat([r[0] for r in reference])
    stderr = torch.cat([r[1] for r in reference])
    print(f"\nlayout={scored.layout} log_px mean={scored.value.mean():.3f} reference "
          f"mean={value.mean():.3f} max|diff|={(scored.value - value).abs().max():.4f}")
    assert agree(scored, value, stderr).all()
    # a longer sequence has more to explain
    lengths = torch.tensor([len(s) for s in held_out])
    longest, shortest = lengths.argmax(), lengths.argmin()
    assert scored.value[longest] < scored.value[shortest]
