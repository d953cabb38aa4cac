# Paxos core (issue 4): acceptor, proposer/node and codec unit tests.
rc_unit_test(paxos_acceptor_test SOURCES unit/paxos_acceptor_test.c LIBS rc_paxos)
rc_unit_test(paxos_proposer_test SOURCES unit/paxos_proposer_test.c LIBS rc_paxos)
rc_unit_test(paxos_codec_test SOURCES unit/paxos_codec_test.c LIBS rc_paxos)
rc_unit_test(paxos_config_test SOURCES unit/paxos_config_test.c LIBS rc_paxos)
