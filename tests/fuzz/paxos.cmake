# Paxos codec fuzz target (issue 4). Corpus: fuzz/corpus/paxos_codec/,
# written by `paxos-sim --corpus DIR` (real messages from a simulated run).
rc_fuzz_target(paxos_codec_fuzz SOURCES fuzz/paxos_codec_fuzz.c LIBS rc_paxos
               CORPUS corpus/paxos_codec)
