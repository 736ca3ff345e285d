# packaging/cpack.cmake — install rules for what only an installed host
# needs (default configuration, systemd unit, man pages, pkg-config file,
# plugin template, state directory) and the CPack setup that turns the
# install tree into packages:
#
#   component  deb               rpm                what
#   switchyard switchyard        switchyard         host, plugins, schemas,
#                                                   sql, config, unit, man
#   dev        switchyard-dev    switchyard-devel   SDK header, .pc, test kit,
#                                                   template, plugin guide
#
# Build them with
#   cmake -S . -B build-pkg -DCMAKE_INSTALL_PREFIX=/usr -DSWITCHYARD_TESTS=OFF
#   cmake --build build-pkg && (cd build-pkg && cpack -G "DEB;RPM")
# The version is project(VERSION) in the top CMakeLists.txt and nothing else.

if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "packaging: CMAKE_INSTALL_PREFIX is ${CMAKE_INSTALL_PREFIX}; "
                 "configure with -DCMAKE_INSTALL_PREFIX=/usr for packages")
endif()

set(SWITCHYARD_STATE_DIR "${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/lib/switchyard")
set(SWITCHYARD_CONF_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/switchyard/conf.d")
set(SWITCHYARD_SYSTEMD_UNIT_DIR "/usr/lib/systemd/system" CACHE PATH
    "Where the systemd unit is installed")
set(SY_MAINTAINER "Switchyard maintainers <maintainers@switchyard.example.org>")
set(PKG_SRC ${CMAKE_CURRENT_LIST_DIR})
set(PKG_OUT ${CMAKE_BINARY_DIR}/packaging)

# --- the switchyard component ---------------------------------------------
configure_file(${PKG_SRC}/conf.d/host.ini ${PKG_OUT}/conf.d/host.ini @ONLY)
install(FILES ${PKG_OUT}/conf.d/host.ini DESTINATION ${SWITCHYARD_CONF_DIR}
        COMPONENT switchyard)
configure_file(${PKG_SRC}/systemd/switchyard.service
               ${PKG_OUT}/systemd/switchyard.service @ONLY)
install(FILES ${PKG_OUT}/systemd/switchyard.service
        DESTINATION ${SWITCHYARD_SYSTEMD_UNIT_DIR} COMPONENT switchyard)
if(EXISTS ${PROJECT_SOURCE_DIR}/schemas)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/schemas/
          DESTINATION ${SWITCHYARD_DATA_INSTALL_DIR}/schemas
          COMPONENT switchyard)
endif()
# The repo's plugin files, as examples of enabling the bundled plugins:
# none is enabled by the package.
file(GLOB PLUGIN_INIS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/conf.d/*.ini)
list(FILTER PLUGIN_INIS EXCLUDE REGEX "/(host|topics)\\.ini$")
install(FILES ${PLUGIN_INIS}
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/conf.d
        COMPONENT switchyard)
# [topic NAME] sections to copy from: creating topics on a production
# cluster is the operator's call, so they are not in conf.d/.
install(FILES ${PROJECT_SOURCE_DIR}/conf.d/topics.ini
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        COMPONENT switchyard)
# The state directory ships empty; the maintainer scripts give it to the
# switchyard user.
install(DIRECTORY DESTINATION ${SWITCHYARD_STATE_DIR} COMPONENT switchyard)

# Man pages: switchyard.conf(5)'s settings section is written at build time
# from `switchyard config-reference`, the same key tables the loader uses.
set(MAN_OUT ${PKG_OUT}/man)
configure_file(${PKG_SRC}/man/switchyard.8 ${MAN_OUT}/switchyard.8 @ONLY)
set(SETTINGS "@SETTINGS@")
configure_file(${PKG_SRC}/man/switchyard.conf.5.in
               ${MAN_OUT}/switchyard.conf.5.in @ONLY)
add_custom_command(OUTPUT ${MAN_OUT}/switchyard.conf.5
  COMMAND ${CMAKE_COMMAND} -DSWITCHYARD=$<TARGET_FILE:switchyard>
          -DIN=${MAN_OUT}/switchyard.conf.5.in
          -DOUT=${MAN_OUT}/switchyard.conf.5
          -DVERSION=${PROJECT_VERSION}
          -P ${PKG_SRC}/man/reference2man.cmake
  DEPENDS switchyard ${MAN_OUT}/switchyard.conf.5.in
          ${PKG_SRC}/man/reference2man.cmake
  COMMENT "Writing switchyard.conf(5) from config-reference")
add_custom_target(switchyard_man ALL DEPENDS ${MAN_OUT}/switchyard.conf.5)
foreach(page switchyard.8 switchyard.conf.5)
  string(REGEX MATCH "[0-9]$" sect ${page})
  add_custom_command(OUTPUT ${MAN_OUT}/${page}.gz
    COMMAND gzip -9n -c ${MAN_OUT}/${page} > ${MAN_OUT}/${page}.gz
    DEPENDS ${MAN_OUT}/${page})
  list(APPEND MAN_GZ ${MAN_OUT}/${page}.gz)
  install(FILES ${MAN_OUT}/${page}.gz
          DESTINATION ${CMAKE_INSTALL_MANDIR}/man${sect} COMPONENT switchyard)
endforeach()
add_custom_target(switchyard_man_gz ALL DEPENDS ${MAN_GZ})
add_dependencies(switchyard_man_gz switchyard_man)

# Debian wants a copyright file and a changelog in each package's doc
# directory; the changelog says where the history is.
string(TIMESTAMP PKG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
foreach(pkg switchyard switchyard-dev)
  configure_file(${PKG_SRC}/deb/changelog.in ${PKG_OUT}/${pkg}/changelog.Debian
                 @ONLY)
  add_custom_command(OUTPUT ${PKG_OUT}/${pkg}/changelog.Debian.gz
    COMMAND gzip -9n -c ${PKG_OUT}/${pkg}/changelog.Debian
            > ${PKG_OUT}/${pkg}/changelog.Debian.gz
    DEPENDS ${PKG_OUT}/${pkg}/changelog.Debian)
  list(APPEND CHANGELOG_GZ ${PKG_OUT}/${pkg}/changelog.Debian.gz)
endforeach()
add_custom_target(switchyard_changelog ALL DEPENDS ${CHANGELOG_GZ})
install(FILES ${PKG_SRC}/copyright ${PKG_OUT}/switchyard/changelog.Debian.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT switchyard)

# --- the dev component ------------------------------------------------------
file(STRINGS ${PROJECT_SOURCE_DIR}/sdk/include/switchyard/sdk.h abi
     REGEX "^#define SY_ABI_(MAJOR|MINOR) [0-9]+")
string(REGEX REPLACE ".*SY_ABI_MAJOR ([0-9]+).*" "\\1" SY_ABI_MAJOR "${abi}")
string(REGEX REPLACE ".*SY_ABI_MINOR ([0-9]+).*" "\\1" SY_ABI_MINOR "${abi}")
configure_file(${PKG_SRC}/switchyard-sdk.pc.in ${PKG_OUT}/switchyard-sdk.pc
               @ONLY)
# The SDK is header only, but the .pc names the multiarch plugin
# directory, so the dev package is architecture specific.
install(FILES ${PKG_OUT}/switchyard-sdk.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
# The test kit is a static archive holding the host; its .pc names the
# libraries the host links (all of them public, so that pkg-config and
# CMake's imported targets link a test without --static).
set(TESTKIT_REQUIRES "rdkafka libpq jansson inih uuid")
if(SYSTEMD_FOUND)
  string(APPEND TESTKIT_REQUIRES " libsystemd")
endif()
if(MICROHTTPD_FOUND)
  string(APPEND TESTKIT_REQUIRES " libmicrohttpd")
endif()
set(TESTKIT_LIBDIR ${CMAKE_INSTALL_FULL_LIBDIR})
set(TESTKIT_INCLUDEDIR ${CMAKE_INSTALL_FULL_INCLUDEDIR})
configure_file(${PKG_SRC}/switchyard-testkit.pc.in
               ${PKG_OUT}/switchyard-testkit.pc @ONLY)
install(FILES ${PKG_OUT}/switchyard-testkit.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
# The same for the build tree (tests, and authors working from a checkout).
set(TESTKIT_LIBDIR ${CMAKE_BINARY_DIR}/testkit)
set(TESTKIT_INCLUDEDIR ${PROJECT_SOURCE_DIR}/sdk/include)
configure_file(${PKG_SRC}/switchyard-testkit.pc.in
               ${PKG_OUT}/uninstalled/switchyard-testkit.pc @ONLY)
if(EXISTS ${PROJECT_SOURCE_DIR}/sdk/template/CMakeLists.txt)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/sdk/template/
          DESTINATION ${SWITCHYARD_DATA_INSTALL_DIR}/template COMPONENT dev)
endif()
if(EXISTS ${PROJECT_SOURCE_DIR}/docs/plugin-guide.md)
  install(FILES ${PROJECT_SOURCE_DIR}/docs/plugin-guide.md
          DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/switchyard-dev COMPONENT dev)
endif()
install(FILES ${PKG_SRC}/copyright ${PKG_OUT}/switchyard-dev/changelog.Debian.gz
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/switchyard-dev COMPONENT dev)

# --- CPack ------------------------------------------------------------------
set(CPACK_PACKAGE_NAME switchyard)
set(CPACK_PACKAGE_VENDOR "Switchyard")
set(CPACK_PACKAGE_CONTACT "${SY_MAINTAINER}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_HOMEPAGE_URL "https://switchyard.invalid/")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_COMPONENTS_ALL switchyard dev)
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR "DEB;RPM")
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)

set(SY_DESC_HOST "Switchyard is a C plugin host for event-driven services:
it owns the Kafka connections, worker threads, idempotent consumption,
the transactional PostgreSQL outbox, retries and dead letters, and loads
domain plugins that hold only business logic.
This package has the switchyard daemon, its systemd unit, default
configuration and manual pages.")
set(SY_DESC_DEV "The plugin SDK of Switchyard: the <switchyard/sdk.h>
header and the switchyard-sdk pkg-config file; the test kit
(libswitchyard-testkit, <switchyard/testkit.h>), which runs a plugin in a
real host on an embedded PostgreSQL and Kafka from a test; and a template
of a sales-system adapter plugin with its configuration and tests.")

# Debian
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_SWITCHYARD_PACKAGE_NAME switchyard)
set(CPACK_DEBIAN_SWITCHYARD_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_SWITCHYARD_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_SWITCHYARD_PACKAGE_RECOMMENDS "postgresql")
set(CPACK_DEBIAN_SWITCHYARD_DESCRIPTION "${SY_DESC_HOST}")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME switchyard-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# The test kit's .pc requires the host's libraries' .pc files.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "pkg-config, librdkafka-dev, libpq-dev, libjansson-dev, libinih-dev, uuid-dev, libsystemd-dev")
if(MICROHTTPD_FOUND)
  string(APPEND CPACK_DEBIAN_DEV_PACKAGE_DEPENDS ", libmicrohttpd-dev")
endif()
# The template builds with cmake and parses JSON with jansson.
# The template builds with cmake; the test kit runs PostgreSQL's server.
set(CPACK_DEBIAN_DEV_PACKAGE_RECOMMENDS "postgresql")
set(CPACK_DEBIAN_DEV_PACKAGE_SUGGESTS "switchyard (= ${PROJECT_VERSION}-1), cmake")
set(CPACK_DEBIAN_DEV_DESCRIPTION "${SY_DESC_DEV}")
foreach(s postinst prerm postrm conffiles)
  configure_file(${PKG_SRC}/deb/${s} ${PKG_OUT}/deb/${s} @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
                 GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  list(APPEND DEB_SCRIPTS ${PKG_OUT}/deb/${s})
endforeach()
file(CHMOD ${PKG_OUT}/deb/conffiles PERMISSIONS OWNER_READ OWNER_WRITE
     GROUP_READ WORLD_READ)
set(CPACK_DEBIAN_SWITCHYARD_PACKAGE_CONTROL_EXTRA "${DEB_SCRIPTS}")
set(CPACK_DEBIAN_SWITCHYARD_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# RPM
set(CPACK_RPM_COMPONENT_INSTALL ON)
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_RELEASE 1)
set(CPACK_RPM_PACKAGE_LICENSE "Proprietary")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
set(CPACK_RPM_SWITCHYARD_PACKAGE_NAME switchyard)
set(CPACK_RPM_SWITCHYARD_PACKAGE_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_RPM_SWITCHYARD_PACKAGE_DESCRIPTION "${SY_DESC_HOST}")
set(CPACK_RPM_SWITCHYARD_PACKAGE_AUTOREQ ON)
set(CPACK_RPM_SWITCHYARD_PACKAGE_REQUIRES_PRE "shadow-utils")
set(CPACK_RPM_SWITCHYARD_PACKAGE_SUGGESTS "postgresql-server")
set(CPACK_RPM_DEV_PACKAGE_NAME switchyard-devel)
set(CPACK_RPM_DEV_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_DEV_PACKAGE_SUMMARY "Switchyard plugin SDK")
set(CPACK_RPM_DEV_PACKAGE_DESCRIPTION "${SY_DESC_DEV}")
set(CPACK_RPM_DEV_PACKAGE_REQUIRES
    "pkgconfig, librdkafka-devel, libpq-devel, jansson-devel, inih-devel, libuuid-devel, systemd-devel")
foreach(s pre post preun postun)
  configure_file(${PKG_SRC}/rpm/${s} ${PKG_OUT}/rpm/${s} @ONLY)
endforeach()
set(CPACK_RPM_SWITCHYARD_PRE_INSTALL_SCRIPT_FILE ${PKG_OUT}/rpm/pre)
set(CPACK_RPM_SWITCHYARD_POST_INSTALL_SCRIPT_FILE ${PKG_OUT}/rpm/post)
set(CPACK_RPM_SWITCHYARD_PRE_UNINSTALL_SCRIPT_FILE ${PKG_OUT}/rpm/preun)
set(CPACK_RPM_SWITCHYARD_POST_UNINSTALL_SCRIPT_FILE ${PKG_OUT}/rpm/postun)
set(CPACK_RPM_SWITCHYARD_USER_FILELIST
    "%config(noreplace) ${SWITCHYARD_CONF_DIR}/host.ini"
    "%dir %attr(0750,switchyard,switchyard) ${SWITCHYARD_STATE_DIR}")
# Directories the base system owns are not ours to list.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /etc /etc/switchyard /usr/lib/systemd /usr/lib/systemd/system
    /usr/share/man /usr/share/man/man5 /usr/share/man/man8
    /usr/share/doc /usr/lib/pkgconfig ${CMAKE_INSTALL_FULL_LIBDIR}
    ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig /usr/include /var /var/lib)

include(CPack)
cpack_add_component(switchyard DISPLAY_NAME "Switchyard host"
                    DESCRIPTION "${SY_DESC_HOST}")
cpack_add_component(dev DISPLAY_NAME "Switchyard plugin SDK"
                    DESCRIPTION "${SY_DESC_DEV}")

if(SWITCHYARD_TESTS)
  # The template built as a plugin author builds it, against this tree's
  # SDK through an uninstalled switchyard-sdk.pc.
  set(SDK_INCLUDEDIR ${PROJECT_SOURCE_DIR}/sdk/include)
  file(WRITE ${PKG_OUT}/uninstalled/switchyard-sdk.pc
       "includedir=${SDK_INCLUDEDIR}\nplugindir=${CMAKE_BINARY_DIR}/plugins\n"
       "Name: switchyard-sdk\nDescription: Switchyard SDK (build tree)\n"
       "Version: ${PROJECT_VERSION}\nCflags: -I\${includedir}\n")
  add_test(NAME sdk_template
    COMMAND ${PKG_SRC}/../tests/packaging/test_template.sh
            ${PROJECT_SOURCE_DIR}/sdk/template ${PKG_OUT}/uninstalled
            ${CMAKE_BINARY_DIR}/sdk-template
            "$<$<BOOL:${SWITCHYARD_SANITIZE}>:-fsanitize=address,undefined>")
  set_tests_properties(sdk_template PROPERTIES LABELS "sdk" TIMEOUT 120)
  add_test(NAME packaging
    COMMAND ${PKG_SRC}/../tests/packaging/test_packages.sh
            ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}/pkgtest)
  set_tests_properties(packaging PROPERTIES LABELS packaging TIMEOUT 600)
endif()
