"""The bottom layer, which every other part of pyrovae may import and which imports none of
them: the errors, the one error boundary, option checks, file output, devices, versions, the
model protocols, network helpers and distributions."""
