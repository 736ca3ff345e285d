# reference2man.cmake — writes switchyard.conf(5): the hand-written page IN
# with its @SETTINGS@ line replaced by `switchyard config-reference`
# (Markdown, from the loader's key tables) turned into roff, each key with
# what a reload does with it.
#   cmake -DSWITCHYARD=bin -DIN=page.in -DOUT=page -DVERSION=x -P this
cmake_minimum_required(VERSION 3.18)
execute_process(COMMAND ${SWITCHYARD} config-reference
                OUTPUT_VARIABLE ref RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${SWITCHYARD} config-reference failed: ${rc}")
endif()

# What yard_host_reload() does with each setting (host/host.h): the live
# host settings apply at once; a plugin's file (every key of [plugin] and
# [settings]) upgrades that plugin; everything else needs a restart.
set(live_keys host.log_level host.log_format host.shutdown_timeout_ms
    retry.initial_ms retry.max_ms retry.max_attempts)

function(roff_text out text)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REPLACE "-" "\\-" text "${text}")
  string(REGEX REPLACE "`([^`]*)`" "\\\\fB\\1\\\\fR" text "${text}")
  string(REPLACE "–" "\\(en" text "${text}")
  string(REPLACE "—" "\\(em" text "${text}")
  # A line must not start with a control character.
  string(REGEX REPLACE "^([.'])" "\\\\&\\1" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

string(REPLACE ";" "\\;" ref "${ref}")
string(REPLACE "\n" ";" lines "${ref}")
set(roff "")
set(section "")
foreach(line IN LISTS lines)
  if(line MATCHES "^#### `\\[([a-z]+)( NAME)?\\]` — (.*)$")
    set(section ${CMAKE_MATCH_1})
    roff_text(help "${CMAKE_MATCH_3}")
    string(APPEND roff ".SS [${section}${CMAKE_MATCH_2}]\n${help}\n")
    if(section STREQUAL "kafka")
      string(APPEND roff ".PP\nReload: needs a restart.\n")
    elseif(section STREQUAL "topics")
      string(APPEND roff ".PP\nReload: needs a restart.\n")
    elseif(section STREQUAL "settings")
      string(APPEND roff ".PP\nReload: a change upgrades the plugin.\n")
    endif()
  elseif(line MATCHES "^\\| `([^`]+)` \\| ([^|]*) \\| ([^|]*) \\| (.*) \\|$")
    set(key ${CMAKE_MATCH_1})
    roff_text(type "${CMAKE_MATCH_2}")
    roff_text(def "${CMAKE_MATCH_3}")
    roff_text(meaning "${CMAKE_MATCH_4}")
    if(section STREQUAL "plugin")
      set(reload "a change upgrades the plugin (enabled = false drains and unloads it)")
    elseif("${section}.${key}" IN_LIST live_keys)
      set(reload "applied at once")
    else()
      set(reload "needs a restart (a reload logs that it was not applied)")
    endif()
    string(REPLACE "-" "\\-" rkey "${key}")
    string(APPEND roff ".TP\n.B ${rkey}\n${meaning}.\n.br\nType: ${type}; default: ${def}.\n.br\nReload: ${reload}.\n")
  elseif(line MATCHES "^\\|" OR line STREQUAL "")
    # table header and rule, blank lines
  else()
    roff_text(text "${line}")
    string(APPEND roff ".PP\n${text}\n")
  endif()
endforeach()

file(READ ${IN} page)
string(REPLACE "@SETTINGS@\n" "${roff}" page "${page}")
string(REPLACE "@PROJECT_VERSION@" "${VERSION}" page "${page}")
file(WRITE ${OUT} "${page}")
