# tests/sim/window.cmake: runs the Paxos simulator over a window of seeds
# that moves with the commit, so successive commits explore new histories
# instead of re-proving seeds 1..2000. The one rule: the window is printed
# before it runs, with the command that replays it.
#
#   cmake -DSIM=path/to/paxos-sim -DSRC=source/dir -DCOUNT=n [-DGIT=git]
#         -P tests/sim/window.cmake
#
# Start: 3,000,001 + the first 7 hex digits of `git rev-parse HEAD` of SRC
# (3,000,001 .. 271,435,456, clear of the fixed ranges 1..2,000,000 the
# soak runs cover). PAXOS_SIM_WINDOW_START in the environment overrides it;
# without git or a repository a fixed window is used, and said so.
if(NOT CMAKE_SCRIPT_MODE_FILE)
    return() # tests/CMakeLists.txt includes every sim/*.cmake: nothing to do then
endif()
cmake_minimum_required(VERSION 3.18)

foreach(var SIM SRC COUNT)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "window.cmake: -D${var}= is required")
    endif()
endforeach()

set(start "")
set(how "")
if(DEFINED ENV{PAXOS_SIM_WINDOW_START})
    set(start "$ENV{PAXOS_SIM_WINDOW_START}")
    set(how "from PAXOS_SIM_WINDOW_START")
elseif(GIT)
    execute_process(COMMAND "${GIT}" -C "${SRC}" rev-parse HEAD
                    OUTPUT_VARIABLE head RESULT_VARIABLE rc
                    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(rc EQUAL 0 AND head MATCHES "^([0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f])")
        math(EXPR start "3000001 + 0x${CMAKE_MATCH_1}")
        set(how "from commit ${head}")
    endif()
endif()
if(start STREQUAL "")
    set(start 2000001)
    set(how "NOTE: git or the repository is unavailable, fixed window")
endif()
if(NOT start MATCHES "^[0-9]+$")
    message(FATAL_ERROR "window.cmake: bad window start '${start}'")
endif()
math(EXPR last "${start} + ${COUNT} - 1")

message("seed window: ${start}..${last} (${how}; replay: ${SIM} --seed ${start} --seeds ${COUNT})")
execute_process(COMMAND "${SIM}" --seed ${start} --seeds ${COUNT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "seed window ${start}..${last} failed: the replay line above names the seed")
endif()
