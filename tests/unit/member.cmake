# member/: failure detector and leases (virtual time), configuration -> ring mapping
# (golden digest, paxos/ring limits). Links rc_member only (and what it needs).
rc_unit_test(member_fd_test SOURCES unit/member_fd_test.c LIBS rc_member)
rc_unit_test(member_ring_test SOURCES unit/member_ring_test.c LIBS rc_member)
rc_unit_test(member_handoff_test SOURCES unit/member_handoff_test.c LIBS rc_member)
rc_unit_test(member_lease_test SOURCES unit/member_lease_test.c LIBS rc_member)
